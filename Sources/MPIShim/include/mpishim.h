/* MPIShim: the plain-C face of OpenMPI for Swift.
 *
 * OpenMPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE) are macros Swift cannot
 * import, so this header uses plain C types only. Every function works on MPI_COMM_WORLD,
 * returns an MPI error code (0 = success) unless stated otherwise, and takes 64-bit element
 * counts: calls above the chunk limit (INT_MAX elements by default) are split into several MPI
 * calls so no count ever overflows MPI's int.
 */
#ifndef LPFT_MPISHIM_H
#define LPFT_MPISHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types understood by the typed calls. */
enum {
    MPISHIM_BYTE = 0,
    MPISHIM_FLOAT = 1,
    MPISHIM_DOUBLE = 2,
    MPISHIM_INT64 = 3,
    MPISHIM_INT32 = 4
};

/* Starts MPI with at least MPI_THREAD_FUNNELED and sets MPI_ERRORS_RETURN on the world
 * communicator. Works without mpirun (singleton). *providedThreadLevel receives 0..3
 * (SINGLE, FUNNELED, SERIALIZED, MULTIPLE). */
int mpishim_init(int *providedThreadLevel);
int mpishim_is_initialized(void);
int mpishim_is_finalized(void);
int mpishim_finalize(void);

int mpishim_rank(void);
int mpishim_size(void);
/* Host name of this process into buf (NUL-terminated, at most len bytes). */
int mpishim_processor_name(char *buf, int len);
/* MPI library version string (e.g. "Open MPI v4.1.4, ...") into buf. */
int mpishim_library_version(char *buf, int len);
/* Human-readable text for an MPI error code into buf. */
void mpishim_error_string(int code, char *buf, int len);

double mpishim_wtime(void);
int mpishim_barrier(void);
/* Terminates every process of the job with the given exit code. Does not return. */
void mpishim_abort(int exitCode);

/* Largest element count handed to one MPI call. Default INT_MAX; tests lower it to exercise
 * the chunked paths with small buffers. Values < 1 restore the default. */
void mpishim_set_chunk_limit(int64_t elements);
int64_t mpishim_chunk_limit(void);

/* In-place sum over all ranks. */
int mpishim_allreduce_sum(void *buffer, int64_t count, int elementType);
/* In-place maximum / minimum over all ranks. */
int mpishim_allreduce_max(void *buffer, int64_t count, int elementType);
int mpishim_allreduce_min(void *buffer, int64_t count, int elementType);

/* Sum over all ranks into root's buffer (in place there); the other ranks' buffers are only
 * read. For a fixed number of ranks the order of the additions is the same every call. */
int mpishim_reduce_sum(void *buffer, int64_t count, int elementType, int root);

int mpishim_bcast(void *buffer, int64_t count, int elementType, int root);

/* Gather variable-length blocks to root. counts[r] and displacements[r] (in elements, for
 * every rank r) must be given on every rank; recvBuffer matters on root only. */
int mpishim_gatherv(const void *sendBuffer, int64_t sendCount, void *recvBuffer,
                    const int64_t *counts, const int64_t *displacements, int elementType,
                    int root);
/* Same, with the result on every rank. */
int mpishim_allgatherv(const void *sendBuffer, int64_t sendCount, void *recvBuffer,
                       const int64_t *counts, const int64_t *displacements, int elementType);

int mpishim_send(const void *buffer, int64_t count, int elementType, int dest, int tag);
int mpishim_recv(void *buffer, int64_t count, int elementType, int source, int tag);
/* Sends sendCount elements to `peer` while receiving recvCount from it (both ranks call it,
 * each with the other's counts). Waits by testing and sleeping 50 µs in between instead of
 * spinning inside MPI, so a compute thread of this rank on the same core keeps the core. */
int mpishim_exchange(const void *sendBuffer, int64_t sendCount, void *recvBuffer, int64_t recvCount,
                     int elementType, int peer, int tag);

/* Every rank sends block r (sendCounts[r] elements at sendBuffers[r]) to rank r and receives
 * rank r's block for it into recvBuffers[r] (recvCounts[r] elements), its own block copied;
 * every count must equal its partner's. Waits politely as mpishim_exchange. Zero-length
 * blocks send nothing. */
int mpishim_exchange_blocks(const void *const *sendBuffers, const int64_t *sendCounts, void *const *recvBuffers,
                            const int64_t *recvCounts, int elementType, int tag);

/* Gradient buckets: in-place float sums over all ranks that proceed while the caller goes on
 * computing (PyTorch DDP's and Horovod's overlap of the gradient allreduce with backward).
 * mpishim_buckets_start hands a buffer over (it must stay untouched until the wait); a
 * progress thread starts the sums in hand-over order on a communicator of their own and
 * advances them, testing every 50 µs. mpishim_buckets_wait returns once every buffer handed
 * over since the last wait holds the sum (one operation for the stall inspector). Every rank
 * must hand over the same buffers sizes in the same order; the result does not depend on when
 * they were handed over. Without MPI_THREAD_MULTIPLE the sums run inside the wait. */
int mpishim_buckets_start(float *buffer, int64_t count);
/* Buffers handed over from now on travel as bfloat16 (nonzero) or float32 (0, the default):
 * bf16 halves the bytes; each addition is done in float and rounded to bf16 (as DDP's
 * bf16_compress_hook), and the wait widens the sums back into the float buffers. */
void mpishim_buckets_set_bf16(int enabled);
int mpishim_buckets_wait(void);

/* Stall inspector. Every operation above runs against a deadline once a timeout is set: a
 * background thread watches the clock while the main thread is inside MPI. When an operation
 * has not completed within the timeout, the thread asks every other rank (on a private
 * communicator; needs MPI_THREAD_MULTIPLE, which mpishim_init requests) which operation it
 * is in, prints on stderr
 *   rank R: stall: <operation> #<n> at <context> did not complete within S s; ranks not arrived: [..]
 * followed by one line per rank that did not arrive (its host and what it is doing, or that it
 * did not answer), waits briefly so the other ranks can print theirs, and stops the job with
 * MPI_Abort(MPISHIM_STALL_EXIT_CODE). A rank that is asked while outside that operation prints
 * that it has not arrived. Collectives are numbered in call order (#n), the same on every rank.
 * The fast path costs two clock reads and a few atomic stores per call. */
enum { MPISHIM_STALL_EXIT_CODE = 124 };
/* Seconds an operation may take; <= 0 turns the inspector off (the default). */
void mpishim_set_stall_timeout(double seconds);
double mpishim_stall_timeout(void);
/* Free text naming where the program is (e.g. "FT epoch 2 step 37"),
 * quoted in stall reports; copied, at most 159 bytes kept. */
void mpishim_set_stall_context(const char *context);

/* Benchmark baseline with no Swift in the timed loop: `iterations` in-place float-sum
 * MPI_Allreduce calls of `count` elements after `warmup` untimed ones. Returns the mean
 * seconds per call on this rank, or a negative value if an MPI call failed. */
double mpishim_bench_allreduce_raw(float *buffer, int64_t count, int warmup, int iterations);

#ifdef __cplusplus
}
#endif
#endif
