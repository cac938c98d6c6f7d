/* Stall inspector: a deadline on every MPI operation of the shim, and a report naming the
 * ranks that did not arrive (see mpishim.h). Like Horovod's stall inspector or a NCCL
 * timeout, but without touching the fast path: the main thread only records which operation
 * it is in; a background thread watches the clock and, once the deadline passes, asks the
 * other ranks' inspector threads (which answer whatever their main thread is doing, even
 * while it sleeps or computes) on a private duplicate of the world communicator. */
#include "stall.h"
#include "mpishim.h"

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    TAG_QUERY = 7401,          /* "I am stalled in this operation: where are you?" */
    TAG_REPLY = 7402,          /* "This is where I am." */
    OPERATION_BYTES = 96,
    CONTEXT_BYTES = 160,
    HOST_BYTES = 64,
    POLL_MS = 50,              /* clock check and query polling period */
};
/* How long a stalled rank waits for answers, then for the other ranks to print theirs. */
static const double ANSWER_WINDOW_SECONDS = 2.0;

/* Where one rank is: sent as a query (the asker's state) and as a reply. */
struct rank_state {
    int64_t sequence;                 /* collectives started so far */
    int32_t in_operation;             /* 1 while the main thread is inside an operation */
    int32_t peer;                     /* -1: a collective; else the other rank of a send/receive */
    double seconds;                   /* time spent in the current operation */
    char operation[OPERATION_BYTES];  /* e.g. "MPI_Allreduce(sum) of 1000 × float" */
    char context[CONTEXT_BYTES];      /* the caller's context text */
};

/* ---- State of the main thread (written by begin/end, read by the inspector) ---- */
static int depth;                                   /* main thread only */
static _Atomic int64_t sequence;
static _Atomic int in_operation;
static _Atomic(const char *) operation_name;
static _Atomic int64_t operation_count;
static _Atomic int operation_type;
static _Atomic int operation_peer;
static _Atomic int64_t operation_start_ns;
static _Atomic int64_t timeout_ns;

static pthread_mutex_t context_lock = PTHREAD_MUTEX_INITIALIZER;
static char context_text[CONTEXT_BYTES];

/* ---- Inspector ---- */
static int initialized, threads_usable, world_rank, world_size;
static MPI_Comm inspector_comm = MPI_COMM_NULL;
static char (*host_names)[HOST_BYTES];
static pthread_t inspector_thread;
static int thread_started;
static _Atomic int stop_requested;
static int reporting;                               /* inspector thread only */
static int notice_printed;                          /* inspector thread only */
/* A rank stalled in an operation this rank is in (or past) asked: report too. */
static int peer_stall_pending;
/* Replies in flight: their buffers must live until the send completes. */
static struct rank_state *reply_buffers;
static MPI_Request *reply_requests;
static int reply_slots;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_ms(int milliseconds) {
    struct timespec t = { milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

static const char *type_name(int elementType) {
    switch (elementType) {
    case MPISHIM_FLOAT: return "float";
    case MPISHIM_DOUBLE: return "double";
    case MPISHIM_INT64: return "int64";
    case MPISHIM_INT32: return "int32";
    default: return "byte";
    }
}

void mpishim_stall_begin(const char *operation, int64_t count, int elementType, int peer) {
    if (depth++ > 0) return;
    if (peer < 0) atomic_fetch_add_explicit(&sequence, 1, memory_order_relaxed);
    atomic_store_explicit(&operation_name, operation, memory_order_relaxed);
    atomic_store_explicit(&operation_count, count, memory_order_relaxed);
    atomic_store_explicit(&operation_type, elementType, memory_order_relaxed);
    atomic_store_explicit(&operation_peer, peer, memory_order_relaxed);
    atomic_store_explicit(&operation_start_ns, now_ns(), memory_order_relaxed);
    /* Release: a reader that sees in_operation = 1 sees this operation's fields. */
    atomic_store_explicit(&in_operation, 1, memory_order_release);
}

void mpishim_stall_end(void) {
    if (--depth > 0) return;
    atomic_store_explicit(&in_operation, 0, memory_order_release);
}

void mpishim_set_stall_context(const char *context) {
    pthread_mutex_lock(&context_lock);
    snprintf(context_text, sizeof context_text, "%s", context ? context : "");
    pthread_mutex_unlock(&context_lock);
}

double mpishim_stall_timeout(void) { return (double)atomic_load(&timeout_ns) / 1e9; }

/* This rank's state now. */
static struct rank_state snapshot(void) {
    struct rank_state s;
    memset(&s, 0, sizeof s);
    s.in_operation = atomic_load_explicit(&in_operation, memory_order_acquire);
    s.sequence = atomic_load(&sequence);
    s.peer = atomic_load(&operation_peer);
    const char *name = atomic_load(&operation_name);
    if (s.in_operation) {
        s.seconds = (double)(now_ns() - atomic_load(&operation_start_ns)) / 1e9;
        int64_t count = atomic_load(&operation_count);
        const char *type = type_name(atomic_load(&operation_type));
        if (s.peer >= 0)
            snprintf(s.operation, sizeof s.operation, "%s of %lld × %s with rank %d", name ? name : "?",
                     (long long)count, type, s.peer);
        else
            snprintf(s.operation, sizeof s.operation, "%s of %lld × %s", name ? name : "?", (long long)count, type);
    }
    pthread_mutex_lock(&context_lock);
    memcpy(s.context, context_text, sizeof s.context);
    pthread_mutex_unlock(&context_lock);
    s.context[sizeof s.context - 1] = 0;
    return s;
}

static const char *host_of(int rank) {
    return (host_names && rank >= 0 && rank < world_size) ? host_names[rank] : "?";
}

/* " #n" for a collective, "" for a send/receive. */
static void number_text(const struct rank_state *s, char *out, size_t size) {
    if (s->peer < 0) snprintf(out, size, " #%lld", (long long)s->sequence);
    else out[0] = 0;
}

/* What rank `rank` is doing, for the report. */
static void describe(const struct rank_state *s, char *out, size_t size) {
    if (s->in_operation) {
        char number[32];
        number_text(s, number, sizeof number);
        snprintf(out, size, "is in %s%s at \"%s\" for %.0f s", s->operation, number, s->context, s->seconds);
    } else {
        snprintf(out, size, "is outside MPI (its last collective was #%lld; context \"%s\")",
                 (long long)s->sequence, s->context);
    }
}

/* Whether rank `other_rank`, in state `other`, has arrived at the operation `mine` of rank
 * `me`: for a collective, it is inside it or already past it (a rank can leave a collective
 * before the others finish it); for a send / receive, it is in the matching operation. */
static int has_arrived(const struct rank_state *mine, int me, const struct rank_state *other, int other_rank) {
    if (mine->peer < 0) return other->sequence > mine->sequence || (other->sequence == mine->sequence && other->in_operation);
    return other->in_operation && other->peer == me && mine->peer == other_rank;
}

static void send_reply(int destination) {
    int slot = -1;
    for (int i = 0; i < reply_slots && slot < 0; i++) {
        int done = 1;
        if (reply_requests[i] != MPI_REQUEST_NULL) MPI_Test(&reply_requests[i], &done, MPI_STATUS_IGNORE);
        if (done) slot = i;
    }
    if (slot < 0) return;  /* every slot still in flight: the asker will list us as not answering */
    reply_buffers[slot] = snapshot();
    MPI_Isend(&reply_buffers[slot], (int)sizeof(struct rank_state), MPI_BYTE, destination, TAG_REPLY,
              inspector_comm, &reply_requests[slot]);
}

/* Answers every pending query; notes a stall reported by a rank in our own operation, or
 * prints once that this rank has not arrived at the operation a rank is stalled in. */
static void answer_queries(void) {
    for (;;) {
        int flag = 0;
        MPI_Status status;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_QUERY, inspector_comm, &flag, &status) != MPI_SUCCESS || !flag) return;
        struct rank_state query;
        if (MPI_Recv(&query, (int)sizeof query, MPI_BYTE, status.MPI_SOURCE, TAG_QUERY, inspector_comm,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS) return;
        query.operation[sizeof query.operation - 1] = 0;
        query.context[sizeof query.context - 1] = 0;
        int asker = status.MPI_SOURCE;
        send_reply(asker);
        if (reporting) continue;
        struct rank_state mine = snapshot();
        if (has_arrived(&query, asker, &mine, world_rank)) {
            /* We are in (or past) the operation the asker is stuck in: the job is stalled for us
             * too, so report now rather than be stopped before our own deadline. */
            if (mine.in_operation) peer_stall_pending = 1;
        } else if (!notice_printed) {
            notice_printed = 1;
            char number[32], state[512];
            number_text(&query, number, sizeof number);
            describe(&mine, state, sizeof state);
            fprintf(stderr, "rank %d: stall: rank %d (%s) reports %s%s at \"%s\" stalled for %.0f s; "
                    "this rank (%s) has not arrived: it %s\n",
                    world_rank, asker, host_of(asker), query.operation, number, query.context, query.seconds,
                    host_of(world_rank), state);
            fflush(stderr);
        }
    }
}

/* Asks the other ranks where they are, prints the report, lets the others print theirs,
 * and stops the job. Does not return. */
static void report_stall(void) {
    reporting = 1;
    struct rank_state mine = snapshot();
    double timeout = (double)atomic_load(&timeout_ns) / 1e9;
    int asked_count = 0, answered_count = 0;
    struct rank_state *answers = calloc((size_t)world_size, sizeof *answers);
    char *answered = calloc((size_t)world_size, 1);
    MPI_Request *queries = calloc((size_t)world_size, sizeof *queries);
    if (threads_usable && answers && answered && queries) {
        /* A send / receive only needs its peer; a collective needs everyone. */
        for (int r = 0; r < world_size; r++) {
            queries[r] = MPI_REQUEST_NULL;
            if (r == world_rank || (mine.peer >= 0 && r != mine.peer)) continue;
            if (MPI_Isend(&mine, (int)sizeof mine, MPI_BYTE, r, TAG_QUERY, inspector_comm, &queries[r]) == MPI_SUCCESS)
                asked_count++;
        }
        int64_t deadline = now_ns() + (int64_t)(ANSWER_WINDOW_SECONDS * 1e9);
        while (answered_count < asked_count && now_ns() < deadline) {
            answer_queries();
            int flag = 0;
            MPI_Status status;
            if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_REPLY, inspector_comm, &flag, &status) == MPI_SUCCESS && flag) {
                int source = status.MPI_SOURCE;
                if (MPI_Recv(&answers[source], (int)sizeof answers[source], MPI_BYTE, source, TAG_REPLY,
                             inspector_comm, MPI_STATUS_IGNORE) == MPI_SUCCESS && !answered[source]) {
                    answers[source].operation[OPERATION_BYTES - 1] = 0;
                    answers[source].context[CONTEXT_BYTES - 1] = 0;
                    answered[source] = 1;
                    answered_count++;
                }
            } else {
                sleep_ms(5);
            }
        }
    }

    char number[32], missing[1024] = "";
    number_text(&mine, number, sizeof number);
    size_t used = 0;
    int missing_count = 0;
    for (int r = 0; r < world_size && threads_usable && answers && answered; r++) {
        if (r == world_rank || (mine.peer >= 0 && r != mine.peer)) continue;
        if (answered[r] && has_arrived(&mine, world_rank, &answers[r], r)) continue;
        if (used < sizeof missing)
            used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%d", missing_count ? ", " : "", r);
        missing_count++;
    }
    if (threads_usable)
        fprintf(stderr, "rank %d: stall: %s%s at \"%s\" did not complete within %g s; ranks not arrived: [%s]\n",
                world_rank, mine.operation, number, mine.context, timeout, missing);
    else
        fprintf(stderr, "rank %d: stall: %s%s at \"%s\" did not complete within %g s; ranks not arrived: unknown "
                "(MPI gave no MPI_THREAD_MULTIPLE, so the other ranks cannot be asked)\n",
                world_rank, mine.operation, number, mine.context, timeout);
    for (int r = 0; r < world_size && threads_usable && answers && answered; r++) {
        if (r == world_rank || (mine.peer >= 0 && r != mine.peer)) continue;
        if (answered[r] && has_arrived(&mine, world_rank, &answers[r], r)) continue;
        char state[512];
        if (answered[r]) describe(&answers[r], state, sizeof state);
        else snprintf(state, sizeof state, "did not answer within %g s (process dead, host unreachable, or "
                      "its MPI progress stuck)", ANSWER_WINDOW_SECONDS);
        fprintf(stderr, "rank %d: stall:   rank %d (%s) %s\n", world_rank, r, host_of(r), state);
    }
    if (threads_usable && missing_count == 0)
        fprintf(stderr, "rank %d: stall:   every rank is inside this operation: the network or the MPI library "
                "is not delivering its messages\n", world_rank);
    fprintf(stderr, "rank %d: stall: stopping the job (on %s)\n", world_rank, host_of(world_rank));
    fflush(stderr);

    /* Let the other ranks collect our answer and print their own report. */
    int64_t grace = now_ns() + (int64_t)(ANSWER_WINDOW_SECONDS * 1e9);
    while (threads_usable && now_ns() < grace) {
        answer_queries();
        sleep_ms(20);
    }
    MPI_Abort(MPI_COMM_WORLD, MPISHIM_STALL_EXIT_CODE);
    _exit(MPISHIM_STALL_EXIT_CODE);
}

static void *inspector_main(void *unused) {
    (void)unused;
    while (!atomic_load(&stop_requested)) {
        sleep_ms(POLL_MS);
        if (threads_usable) answer_queries();
        int64_t limit = atomic_load(&timeout_ns);
        if (limit <= 0) continue;
        if (peer_stall_pending) report_stall();
        if (atomic_load_explicit(&in_operation, memory_order_acquire)
            && now_ns() - atomic_load(&operation_start_ns) > limit)
            report_stall();
    }
    return NULL;
}

void mpishim_set_stall_timeout(double seconds) {
    atomic_store(&timeout_ns, seconds > 0 ? (int64_t)(seconds * 1e9) : 0);
    if (seconds > 0 && initialized && world_size > 1 && !thread_started) {
        if (pthread_create(&inspector_thread, NULL, inspector_main, NULL) == 0) thread_started = 1;
        else fprintf(stderr, "rank %d: the stall inspector thread could not start; collectives run without a deadline\n",
                     world_rank);
    }
}

int mpishim_stall_init(int threadsUsable) {
    if (initialized) return MPI_SUCCESS;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    threads_usable = threadsUsable;
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &inspector_comm);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm_set_errhandler(inspector_comm, MPI_ERRORS_RETURN);
    host_names = calloc((size_t)world_size, HOST_BYTES);
    reply_slots = 4 * world_size + 4;
    reply_buffers = calloc((size_t)reply_slots, sizeof *reply_buffers);
    reply_requests = malloc((size_t)reply_slots * sizeof *reply_requests);
    if (!host_names || !reply_buffers || !reply_requests) return MPI_ERR_NO_MEM;
    for (int i = 0; i < reply_slots; i++) reply_requests[i] = MPI_REQUEST_NULL;
    char name[HOST_BYTES] = "";
    if (mpishim_processor_name(name, HOST_BYTES) != MPI_SUCCESS) snprintf(name, sizeof name, "?");
    rc = MPI_Allgather(name, HOST_BYTES, MPI_CHAR, host_names, HOST_BYTES, MPI_CHAR, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return rc;
    initialized = 1;
    return MPI_SUCCESS;
}

void mpishim_stall_shutdown(void) {
    if (thread_started) {
        atomic_store(&stop_requested, 1);
        pthread_join(inspector_thread, NULL);
        thread_started = 0;
    }
    if (inspector_comm != MPI_COMM_NULL) {
        /* Replies still in flight to ranks that already left do not hold up the exit. */
        for (int i = 0; i < reply_slots; i++)
            if (reply_requests[i] != MPI_REQUEST_NULL) MPI_Request_free(&reply_requests[i]);
        MPI_Comm_free(&inspector_comm);
    }
}
