/* MPIShim implementation: thin, checked wrappers over OpenMPI on MPI_COMM_WORLD.
 * Large counts are split into chunks of at most `chunk_limit` elements per MPI call.
 * Every operation is bracketed by mpishim_stall_begin/end for the stall inspector (stall.c). */
#include "buckets.h"
#include "mpishim.h"
#include "stall.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t chunk_limit = INT_MAX;

void mpishim_set_chunk_limit(int64_t elements) {
    chunk_limit = (elements < 1 || elements > INT_MAX) ? INT_MAX : elements;
}
int64_t mpishim_chunk_limit(void) { return chunk_limit; }

static MPI_Datatype datatype_of(int elementType) {
    switch (elementType) {
    case MPISHIM_FLOAT: return MPI_FLOAT;
    case MPISHIM_DOUBLE: return MPI_DOUBLE;
    case MPISHIM_INT64: return MPI_INT64_T;
    case MPISHIM_INT32: return MPI_INT32_T;
    default: return MPI_BYTE;
    }
}

static size_t size_of(int elementType) {
    switch (elementType) {
    case MPISHIM_FLOAT: return 4;
    case MPISHIM_DOUBLE: return 8;
    case MPISHIM_INT64: return 8;
    case MPISHIM_INT32: return 4;
    default: return 1;
    }
}

int mpishim_init(int *providedThreadLevel) {
    int flag = 0, provided = MPI_THREAD_SINGLE, rc;
    MPI_Initialized(&flag);
    if (!flag) {
        /* MULTIPLE lets the stall inspector's thread talk to the other ranks while the main
         * thread is inside a collective; FUNNELED (or more) is what the rest of the code needs. */
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
        if (rc != MPI_SUCCESS) return rc;
    } else {
        MPI_Query_thread(&provided);
    }
    if (providedThreadLevel) {
        *providedThreadLevel = provided == MPI_THREAD_SINGLE ? 0
                             : provided == MPI_THREAD_FUNNELED ? 1
                             : provided == MPI_THREAD_SERIALIZED ? 2 : 3;
    }
    rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (rc != MPI_SUCCESS) return rc;
    rc = mpishim_stall_init(provided == MPI_THREAD_MULTIPLE);
    if (rc != MPI_SUCCESS) return rc;
    return mpishim_buckets_init(provided == MPI_THREAD_MULTIPLE);
}

int mpishim_is_initialized(void) { int f = 0; MPI_Initialized(&f); return f; }
int mpishim_is_finalized(void) { int f = 0; MPI_Finalized(&f); return f; }
int mpishim_finalize(void) {
    mpishim_buckets_shutdown();
    mpishim_stall_shutdown();
    return MPI_Finalize();
}

int mpishim_rank(void) { int r = 0; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
int mpishim_size(void) { int s = 1; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }

int mpishim_processor_name(char *buf, int len) {
    char name[MPI_MAX_PROCESSOR_NAME];
    int n = 0, rc = MPI_Get_processor_name(name, &n);
    if (rc != MPI_SUCCESS) return rc;
    if (len > 0) { strncpy(buf, name, (size_t)len - 1); buf[len - 1] = 0; }
    return MPI_SUCCESS;
}

int mpishim_library_version(char *buf, int len) {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0, rc = MPI_Get_library_version(version, &n);
    if (rc != MPI_SUCCESS) return rc;
    if (len > 0) { strncpy(buf, version, (size_t)len - 1); buf[len - 1] = 0; }
    return MPI_SUCCESS;
}

void mpishim_error_string(int code, char *buf, int len) {
    char text[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, text, &n) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", code);
    if (len > 0) { strncpy(buf, text, (size_t)len - 1); buf[len - 1] = 0; }
}

double mpishim_wtime(void) { return MPI_Wtime(); }
int mpishim_barrier(void) {
    mpishim_stall_begin("MPI_Barrier", 0, MPISHIM_BYTE, -1);
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    mpishim_stall_end();
    return rc;
}
void mpishim_abort(int exitCode) { MPI_Abort(MPI_COMM_WORLD, exitCode); exit(exitCode); }

static int allreduce_op(void *buffer, int64_t count, int elementType, MPI_Op op) {
    MPI_Datatype type = datatype_of(elementType);
    char *p = (char *)buffer;
    size_t unit = size_of(elementType);
    for (int64_t done = 0; done < count;) {
        int64_t n = count - done < chunk_limit ? count - done : chunk_limit;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + (size_t)done * unit, (int)n, type, op, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        done += n;
    }
    return MPI_SUCCESS;
}

static int timed_allreduce(const char *name, void *buffer, int64_t count, int elementType, MPI_Op op) {
    mpishim_stall_begin(name, count, elementType, -1);
    int rc = allreduce_op(buffer, count, elementType, op);
    mpishim_stall_end();
    return rc;
}

int mpishim_allreduce_sum(void *b, int64_t c, int t) { return timed_allreduce("MPI_Allreduce(sum)", b, c, t, MPI_SUM); }
int mpishim_allreduce_max(void *b, int64_t c, int t) { return timed_allreduce("MPI_Allreduce(max)", b, c, t, MPI_MAX); }
int mpishim_allreduce_min(void *b, int64_t c, int t) { return timed_allreduce("MPI_Allreduce(min)", b, c, t, MPI_MIN); }

int mpishim_reduce_sum(void *buffer, int64_t count, int elementType, int root) {
    MPI_Datatype type = datatype_of(elementType);
    char *p = (char *)buffer;
    size_t unit = size_of(elementType);
    int isRoot = mpishim_rank() == root;
    mpishim_stall_begin("MPI_Reduce(sum)", count, elementType, -1);
    int rc = MPI_SUCCESS;
    for (int64_t done = 0; done < count && rc == MPI_SUCCESS;) {
        int64_t n = count - done < chunk_limit ? count - done : chunk_limit;
        void *chunk = p + (size_t)done * unit;
        rc = isRoot ? MPI_Reduce(MPI_IN_PLACE, chunk, (int)n, type, MPI_SUM, root, MPI_COMM_WORLD)
                    : MPI_Reduce(chunk, NULL, (int)n, type, MPI_SUM, root, MPI_COMM_WORLD);
        done += n;
    }
    mpishim_stall_end();
    return rc;
}

int mpishim_bcast(void *buffer, int64_t count, int elementType, int root) {
    MPI_Datatype type = datatype_of(elementType);
    char *p = (char *)buffer;
    size_t unit = size_of(elementType);
    mpishim_stall_begin("MPI_Bcast", count, elementType, -1);
    int rc = MPI_SUCCESS;
    for (int64_t done = 0; done < count && rc == MPI_SUCCESS;) {
        int64_t n = count - done < chunk_limit ? count - done : chunk_limit;
        rc = MPI_Bcast(p + (size_t)done * unit, (int)n, type, root, MPI_COMM_WORLD);
        done += n;
    }
    mpishim_stall_end();
    return rc;
}

int mpishim_send(const void *buffer, int64_t count, int elementType, int dest, int tag) {
    MPI_Datatype type = datatype_of(elementType);
    const char *p = (const char *)buffer;
    size_t unit = size_of(elementType);
    int64_t done = 0;
    int rc = MPI_SUCCESS;
    mpishim_stall_begin("MPI_Send", count, elementType, dest);
    do { /* a zero-length message is still sent so the receiver's matching recv completes */
        int64_t n = count - done < chunk_limit ? count - done : chunk_limit;
        rc = MPI_Send(p + (size_t)done * unit, (int)n, type, dest, tag, MPI_COMM_WORLD);
        done += n;
    } while (done < count && rc == MPI_SUCCESS);
    mpishim_stall_end();
    return rc;
}

/* MPI_Testall until done, sleeping 50 µs between tests: OpenMPI's blocking calls poll in a
 * tight loop, which on a rank bound to one core takes half of it from a thread computing there. */
static int wait_politely(int count, MPI_Request *requests) {
    const struct timespec pause = { 0, 50000 };
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS || done) return rc;
        nanosleep(&pause, NULL);
    }
}

int mpishim_exchange(const void *sendBuffer, int64_t sendCount, void *recvBuffer, int64_t recvCount,
                     int elementType, int peer, int tag) {
    MPI_Datatype type = datatype_of(elementType);
    size_t unit = size_of(elementType);
    const char *out = (const char *)sendBuffer;
    char *in = (char *)recvBuffer;
    int64_t sent = 0, received = 0;
    int rc = MPI_SUCCESS;
    mpishim_stall_begin("MPI_Isend+MPI_Irecv", sendCount > recvCount ? sendCount : recvCount, elementType, peer);
    /* Chunk i of one side's send matches chunk i of the other side's receive (same limit). */
    while (rc == MPI_SUCCESS && (sent < sendCount || received < recvCount)) {
        MPI_Request requests[2] = { MPI_REQUEST_NULL, MPI_REQUEST_NULL };
        int64_t ns = sendCount - sent < chunk_limit ? sendCount - sent : chunk_limit;
        int64_t nr = recvCount - received < chunk_limit ? recvCount - received : chunk_limit;
        if (nr > 0) rc = MPI_Irecv(in + (size_t)received * unit, (int)nr, type, peer, tag, MPI_COMM_WORLD, &requests[1]);
        if (rc == MPI_SUCCESS && ns > 0)
            rc = MPI_Isend(out + (size_t)sent * unit, (int)ns, type, peer, tag, MPI_COMM_WORLD, &requests[0]);
        if (rc == MPI_SUCCESS) rc = wait_politely(2, requests);
        sent += ns;
        received += nr;
    }
    mpishim_stall_end();
    return rc;
}

int mpishim_exchange_blocks(const void *const *sendBuffers, const int64_t *sendCounts, void *const *recvBuffers,
                            const int64_t *recvCounts, int elementType, int tag) {
    int rank = mpishim_rank(), size = mpishim_size();
    MPI_Datatype type = datatype_of(elementType);
    size_t unit = size_of(elementType);
    int64_t longest = 0, total = 0;
    for (int r = 0; r < size; r++) {
        if (r == rank) continue;
        if (sendCounts[r] > longest) longest = sendCounts[r];
        if (recvCounts[r] > longest) longest = recvCounts[r];
        total += sendCounts[r] + recvCounts[r];
    }
    if (sendCounts[rank] > 0)
        memmove(recvBuffers[rank], sendBuffers[rank], (size_t)sendCounts[rank] * unit);
    MPI_Request *requests = malloc(sizeof(MPI_Request) * (size_t)(2 * size));
    if (!requests) return MPI_ERR_NO_MEM;
    int rc = MPI_SUCCESS;
    mpishim_stall_begin("MPI_Isend/MPI_Irecv block exchange", total, elementType, -1);
    /* Piece i of every block matches piece i of its receive (same limit on every rank). */
    for (int64_t offset = 0; offset < longest && rc == MPI_SUCCESS; offset += chunk_limit) {
        int pending = 0;
        for (int r = 0; r < size && rc == MPI_SUCCESS; r++) {
            if (r == rank || offset >= recvCounts[r]) continue;
            int64_t n = recvCounts[r] - offset < chunk_limit ? recvCounts[r] - offset : chunk_limit;
            rc = MPI_Irecv((char *)recvBuffers[r] + (size_t)offset * unit, (int)n, type, r, tag, MPI_COMM_WORLD,
                           &requests[pending++]);
        }
        for (int r = 0; r < size && rc == MPI_SUCCESS; r++) {
            if (r == rank || offset >= sendCounts[r]) continue;
            int64_t n = sendCounts[r] - offset < chunk_limit ? sendCounts[r] - offset : chunk_limit;
            rc = MPI_Isend((const char *)sendBuffers[r] + (size_t)offset * unit, (int)n, type, r, tag, MPI_COMM_WORLD,
                           &requests[pending++]);
        }
        if (rc == MPI_SUCCESS && pending > 0) rc = wait_politely(pending, requests);
    }
    mpishim_stall_end();
    free(requests);
    return rc;
}

int mpishim_recv(void *buffer, int64_t count, int elementType, int source, int tag) {
    MPI_Datatype type = datatype_of(elementType);
    char *p = (char *)buffer;
    size_t unit = size_of(elementType);
    int64_t done = 0;
    int rc = MPI_SUCCESS;
    mpishim_stall_begin("MPI_Recv", count, elementType, source);
    do {
        int64_t n = count - done < chunk_limit ? count - done : chunk_limit;
        rc = MPI_Recv(p + (size_t)done * unit, (int)n, type, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        done += n;
    } while (done < count && rc == MPI_SUCCESS);
    mpishim_stall_end();
    return rc;
}

/* True when every count and displacement fits one MPI call. */
static int fits_one_call(const int64_t *counts, const int64_t *displacements, int size) {
    for (int r = 0; r < size; r++)
        if (counts[r] > chunk_limit || displacements[r] > chunk_limit) return 0;
    return 1;
}

#define GATHER_TAG 7301

static int gatherv_op(const void *sendBuffer, int64_t sendCount, void *recvBuffer,
                      const int64_t *counts, const int64_t *displacements, int elementType, int root) {
    int rank = mpishim_rank(), size = mpishim_size();
    MPI_Datatype type = datatype_of(elementType);
    size_t unit = size_of(elementType);
    if (fits_one_call(counts, displacements, size)) {
        int *c = malloc(sizeof(int) * (size_t)size), *d = malloc(sizeof(int) * (size_t)size);
        if (!c || !d) { free(c); free(d); return MPI_ERR_NO_MEM; }
        for (int r = 0; r < size; r++) { c[r] = (int)counts[r]; d[r] = (int)displacements[r]; }
        int rc = MPI_Gatherv(sendBuffer, (int)sendCount, type, recvBuffer, c, d, type, root,
                             MPI_COMM_WORLD);
        free(c); free(d);
        return rc;
    }
    /* Large path: point-to-point in chunks; root receives from every other rank in order. */
    if (rank != root) return mpishim_send(sendBuffer, sendCount, elementType, root, GATHER_TAG);
    memmove((char *)recvBuffer + (size_t)displacements[root] * unit, sendBuffer, (size_t)sendCount * unit);
    for (int r = 0; r < size; r++) {
        if (r == root) continue;
        int rc = mpishim_recv((char *)recvBuffer + (size_t)displacements[r] * unit, counts[r],
                              elementType, r, GATHER_TAG);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

int mpishim_gatherv(const void *sendBuffer, int64_t sendCount, void *recvBuffer,
                    const int64_t *counts, const int64_t *displacements, int elementType,
                    int root) {
    mpishim_stall_begin("MPI_Gatherv", sendCount, elementType, -1);
    int rc = gatherv_op(sendBuffer, sendCount, recvBuffer, counts, displacements, elementType, root);
    mpishim_stall_end();
    return rc;
}

static int allgatherv_op(const void *sendBuffer, int64_t sendCount, void *recvBuffer,
                         const int64_t *counts, const int64_t *displacements, int elementType) {
    int size = mpishim_size();
    MPI_Datatype type = datatype_of(elementType);
    if (fits_one_call(counts, displacements, size)) {
        int *c = malloc(sizeof(int) * (size_t)size), *d = malloc(sizeof(int) * (size_t)size);
        if (!c || !d) { free(c); free(d); return MPI_ERR_NO_MEM; }
        for (int r = 0; r < size; r++) { c[r] = (int)counts[r]; d[r] = (int)displacements[r]; }
        int rc = MPI_Allgatherv(sendBuffer, (int)sendCount, type, recvBuffer, c, d, type,
                                MPI_COMM_WORLD);
        free(c); free(d);
        return rc;
    }
    /* Large path: gather to rank 0, then broadcast each block (bcast chunks itself). */
    int rc = gatherv_op(sendBuffer, sendCount, recvBuffer, counts, displacements, elementType, 0);
    if (rc != MPI_SUCCESS) return rc;
    size_t unit = size_of(elementType);
    for (int r = 0; r < size; r++) {
        rc = mpishim_bcast((char *)recvBuffer + (size_t)displacements[r] * unit, counts[r], elementType, 0);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

int mpishim_allgatherv(const void *sendBuffer, int64_t sendCount, void *recvBuffer,
                       const int64_t *counts, const int64_t *displacements, int elementType) {
    mpishim_stall_begin("MPI_Allgatherv", sendCount, elementType, -1);
    int rc = allgatherv_op(sendBuffer, sendCount, recvBuffer, counts, displacements, elementType);
    mpishim_stall_end();
    return rc;
}

double mpishim_bench_allreduce_raw(float *buffer, int64_t count, int warmup, int iterations) {
    if (count > INT_MAX) return -1.0;
    for (int i = 0; i < warmup; i++)
        if (MPI_Allreduce(MPI_IN_PLACE, buffer, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1.0;
    if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS) return -1.0;
    double start = MPI_Wtime();
    for (int i = 0; i < iterations; i++)
        if (MPI_Allreduce(MPI_IN_PLACE, buffer, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1.0;
    return (MPI_Wtime() - start) / iterations;
}
