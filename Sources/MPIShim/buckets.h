/* Internal interface between mpishim.c and the gradient buckets (buckets.c). */
#ifndef LPFT_MPISHIM_BUCKETS_H
#define LPFT_MPISHIM_BUCKETS_H

/* After MPI_Init (collective): the buckets' duplicate of the world communicator;
 * `threadsUsable` (MPI_THREAD_MULTIPLE) lets a progress thread advance them. */
int mpishim_buckets_init(int threadsUsable);
/* Before MPI_Finalize: stops the progress thread and frees the communicator. */
void mpishim_buckets_shutdown(void);

#endif
