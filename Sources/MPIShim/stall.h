/* Internal interface between the MPI wrappers (mpishim.c) and the stall inspector (stall.c).
 * Not part of the public header: Swift never calls these. */
#ifndef LPFT_MPISHIM_STALL_H
#define LPFT_MPISHIM_STALL_H

#include <stdint.h>

/* After MPI_Init: duplicates the world communicator for the inspector's messages and gathers
 * every rank's host name (both collective). `threadsUsable` says whether MPI gave
 * MPI_THREAD_MULTIPLE, which the inspector needs to ask the other ranks where they are. */
int mpishim_stall_init(int threadsUsable);
/* Before MPI_Finalize: stops the inspector thread and frees its communicator. */
void mpishim_stall_shutdown(void);

/* Marks the start / end of one operation on the calling (main) thread. `operation` must be a
 * string literal; `peer` is -1 for a collective, else the other rank of a send / receive.
 * Collectives are numbered in call order, which is the same on every rank. Nested calls
 * (a collective built from sends) count as the outer operation only. */
void mpishim_stall_begin(const char *operation, int64_t count, int elementType, int peer);
void mpishim_stall_end(void);

#endif
