/* Gradient buckets (see mpishim.h): in-place float sums started while the caller keeps
 * computing, as PyTorch DDP and Horovod overlap the gradient allreduce with backward.
 *
 * MPI's non-blocking collectives advance only inside MPI calls, so a progress thread starts
 * every bucket's MPI_Iallreduce in the order the buckets were handed over and tests them,
 * sleeping 50 µs between tests: a polling thread on the rank's core would take half of it from
 * the backward computing there. The buckets travel on a duplicate of the world communicator,
 * so they never interleave with the collectives the main thread calls meanwhile; every rank
 * hands over the same buckets in the same order, so the sums are the same as with the
 * buckets started after backward (the same MPI_Iallreduce calls, only earlier). Without
 * MPI_THREAD_MULTIPLE the main thread starts and tests them itself in mpishim_buckets_wait. */
#include "buckets.h"
#include "mpishim.h"
#include "stall.h"

#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* bfloat16 on the wire (--allreduce-dtype bf16): the upper 16 bits of a float, rounded to
 * nearest even; each addition of the reduction is done in float and rounded back. */
static int wire_bf16;
static MPI_Op bf16_sum = MPI_OP_NULL;

static uint16_t to_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);  /* quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

static float from_bf16(uint16_t half) {
    uint32_t bits = (uint32_t)half << 16;
    float value;
    memcpy(&value, &bits, 4);
    return value;
}

static void bf16_sum_function(void *in, void *inout, int *length, MPI_Datatype *type) {
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *length; i++) b[i] = to_bf16(from_bf16(a[i]) + from_bf16(b[i]));
}

/* A chunk on its way: `data` is the caller's floats; with bf16 on the wire `wire` holds their
 * bfloat16 copy that travels and is summed, and the sums are widened back into `data`. */
struct chunk { float *data; int count; uint16_t *wire; };

static MPI_Comm bucket_comm = MPI_COMM_NULL;
static int threaded;                       /* MPI_THREAD_MULTIPLE: a progress thread */
static pthread_t progress_thread;
static int thread_started;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;      /* new chunks, or stop */
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;  /* every started chunk summed */

/* Under `lock`: chunks handed over and not yet started, in order. */
static struct chunk *queued;
static int queued_count, queued_capacity;
static int64_t handed_over, summed;        /* chunks of this round */
static int64_t round_elements;             /* elements handed over this round (for the stall report) */
static struct chunk *round_chunks;         /* every chunk of this round (bf16: widened in the wait) */
static int round_count, round_capacity;
static int failure = MPI_SUCCESS;
static int stop_requested;

/* Progress thread (or main thread when unthreaded) only: chunks in flight. */
static MPI_Request *requests;
static int in_flight, requests_capacity;

static int grow(void **array, int *capacity, int needed, size_t unit) {
    if (needed <= *capacity) return 1;
    int next = *capacity ? *capacity * 2 : 16;
    while (next < needed) next *= 2;
    void *grown = realloc(*array, (size_t)next * unit);
    if (!grown) return 0;
    *array = grown;
    *capacity = next;
    return 1;
}

/* Starts the queued chunks (their order is the round's order on every rank). Called with `lock`
 * released; takes it to move the queue. */
static int start_queued(void) {
    pthread_mutex_lock(&lock);
    int count = queued_count;
    struct chunk *batch = count ? malloc((size_t)count * sizeof *batch) : NULL;
    if (count && batch) memcpy(batch, queued, (size_t)count * sizeof *batch);
    queued_count = 0;
    pthread_mutex_unlock(&lock);
    if (count && !batch) return MPI_ERR_NO_MEM;
    int rc = MPI_SUCCESS;
    if (!grow((void **)&requests, &requests_capacity, in_flight + count, sizeof *requests)) rc = MPI_ERR_NO_MEM;
    for (int i = 0; i < count && rc == MPI_SUCCESS; i++) {
        if (batch[i].wire) {
            for (int j = 0; j < batch[i].count; j++) batch[i].wire[j] = to_bf16(batch[i].data[j]);
            rc = MPI_Iallreduce(MPI_IN_PLACE, batch[i].wire, batch[i].count, MPI_UINT16_T, bf16_sum, bucket_comm,
                                &requests[in_flight]);
        } else {
            rc = MPI_Iallreduce(MPI_IN_PLACE, batch[i].data, batch[i].count, MPI_FLOAT, MPI_SUM, bucket_comm,
                                &requests[in_flight]);
        }
        if (rc == MPI_SUCCESS) in_flight++;
    }
    free(batch);
    return rc;
}

/* Tests the chunks in flight once; completed ones leave the list. */
static int test_in_flight(int *completed) {
    *completed = 0;
    if (in_flight == 0) return MPI_SUCCESS;
    int flag = 0, rc = MPI_SUCCESS;
    int kept = 0;
    for (int i = 0; i < in_flight && rc == MPI_SUCCESS; i++) {
        rc = MPI_Test(&requests[i], &flag, MPI_STATUS_IGNORE);
        if (rc == MPI_SUCCESS && flag) (*completed)++;
        else requests[kept++] = requests[i];
    }
    if (rc == MPI_SUCCESS) in_flight = kept;
    return rc;
}

static void pause_briefly(void) {
    const struct timespec pause = { 0, 50000 };
    nanosleep(&pause, NULL);
}

static void *progress(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (!stop_requested && queued_count == 0 && in_flight == 0) pthread_cond_wait(&wake, &lock);
        int stopping = stop_requested && queued_count == 0 && in_flight == 0;
        pthread_mutex_unlock(&lock);
        if (stopping) return NULL;
        int rc = start_queued();
        int completed = 0;
        if (rc == MPI_SUCCESS) rc = test_in_flight(&completed);
        pthread_mutex_lock(&lock);
        summed += completed;
        if (rc != MPI_SUCCESS && failure == MPI_SUCCESS) failure = rc;
        if (rc != MPI_SUCCESS) { summed = handed_over; in_flight = 0; queued_count = 0; }
        if (summed == handed_over) pthread_cond_broadcast(&finished);
        int busy = in_flight > 0;
        pthread_mutex_unlock(&lock);
        if (busy) pause_briefly();
    }
}

int mpishim_buckets_init(int threadsUsable) {
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &bucket_comm);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm_set_errhandler(bucket_comm, MPI_ERRORS_RETURN);
    threaded = threadsUsable;
    return MPI_Op_create(bf16_sum_function, 1, &bf16_sum);
}

void mpishim_buckets_set_bf16(int enabled) { wire_bf16 = enabled != 0; }

void mpishim_buckets_shutdown(void) {
    if (thread_started) {
        pthread_mutex_lock(&lock);
        stop_requested = 1;
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&lock);
        pthread_join(progress_thread, NULL);
        thread_started = 0;
    }
    if (bucket_comm != MPI_COMM_NULL) MPI_Comm_free(&bucket_comm);
    if (bf16_sum != MPI_OP_NULL) MPI_Op_free(&bf16_sum);
    free(round_chunks); round_chunks = NULL; round_count = round_capacity = 0;
    free(queued); queued = NULL; queued_count = queued_capacity = 0;
    free(requests); requests = NULL; in_flight = requests_capacity = 0;
}

int mpishim_buckets_start(float *buffer, int64_t count) {
    if (bucket_comm == MPI_COMM_NULL) return MPI_ERR_COMM;
    if (threaded && !thread_started) {
        if (pthread_create(&progress_thread, NULL, progress, NULL) != 0) threaded = 0;
        else thread_started = 1;
    }
    int64_t limit = mpishim_chunk_limit();
    pthread_mutex_lock(&lock);
    int rc = MPI_SUCCESS;
    for (int64_t done = 0; done < count && rc == MPI_SUCCESS;) {
        int64_t n = count - done < limit ? count - done : limit;
        if (!grow((void **)&queued, &queued_capacity, queued_count + 1, sizeof *queued)) { rc = MPI_ERR_NO_MEM; break; }
        struct chunk chunk = { buffer + done, (int)n, NULL };
        if (wire_bf16 && !(chunk.wire = malloc((size_t)n * sizeof *chunk.wire))) { rc = MPI_ERR_NO_MEM; break; }
        if (!grow((void **)&round_chunks, &round_capacity, round_count + 1, sizeof *round_chunks)) {
            free(chunk.wire);
            rc = MPI_ERR_NO_MEM;
            break;
        }
        round_chunks[round_count++] = chunk;
        queued[queued_count++] = chunk;
        handed_over++;
        done += n;
    }
    round_elements += count;
    if (threaded) pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    return rc;
}

int mpishim_buckets_wait(void) {
    mpishim_stall_begin("MPI_Iallreduce(sum) of gradient buckets", round_elements, MPISHIM_FLOAT, -1);
    int rc = MPI_SUCCESS;
    if (threaded) {
        pthread_mutex_lock(&lock);
        while (summed < handed_over) pthread_cond_wait(&finished, &lock);
        rc = failure;
        pthread_mutex_unlock(&lock);
    } else {
        rc = start_queued();
        while (rc == MPI_SUCCESS && in_flight > 0) {
            int completed = 0;
            rc = test_in_flight(&completed);
            summed += completed;
            if (rc == MPI_SUCCESS && in_flight > 0) pause_briefly();
        }
    }
    pthread_mutex_lock(&lock);
    for (int i = 0; i < round_count; i++) {
        struct chunk *c = &round_chunks[i];
        if (!c->wire) continue;
        if (rc == MPI_SUCCESS) for (int j = 0; j < c->count; j++) c->data[j] = from_bf16(c->wire[j]);
        free(c->wire);
    }
    round_count = 0;
    handed_over = summed = 0;
    round_elements = 0;
    failure = MPI_SUCCESS;
    pthread_mutex_unlock(&lock);
    mpishim_stall_end();
    return rc;
}
