/*
 * The hosted C runtime (feature `hosted`): plain POSIX threads, no hooks
 * written here. Each section prints its name; the last line is
 * "hosted: ok".
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcm.h"

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                   \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#define CHECK_STATUS(expr, expected)                                          \
    do {                                                                      \
        int got_ = (expr);                                                    \
        if (got_ != (expected)) {                                             \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, \
                    __LINE__, #expr, ipcm_status_name(got_),                  \
                    ipcm_status_name(expected));                              \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#define MS 1000000 /* nanoseconds */

static ipcm_pipe_info_t info(size_t id) {
    ipcm_pipe_info_t i;
    CHECK_STATUS(ipcm_pipe_info(id, &i), IPCM_STATUS_OK);
    return i;
}

static size_t make_pipe(size_t msg_size, size_t max_msgs, size_t flags) {
    ipc_pipe_t *pipe = ipcm_pipe_create(NULL, msg_size, max_msgs, flags);
    CHECK(pipe != NULL);
    return ipcm_pipe_id(pipe);
}

/* Wait until exactly these many threads wait on the pipe. */
static void await_pending(size_t id, size_t readers, size_t peekers, size_t writers) {
    for (;;) {
        ipcm_pipe_info_t i = info(id);
        if (i.pending_readers == readers && i.pending_peekers == peekers &&
            i.pending_writers == writers)
            return;
        sched_yield();
    }
}

static void before_init(void) {
    char buf[8] = {0};
    size_t len;
    size_t id = make_pipe(8, 1, 0);
    CHECK_STATUS(ipcm_host_write(id, "x", 1, IPCM_HOST_FOREVER), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_host_read(id, buf, sizeof buf, &len, 0), IPCM_STATUS_BAD_PARAM);
    CHECK(info(id).queued == 0);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    puts("before init: BAD_PARAM, nothing changed");
}

static void init_is_idempotent_and_sealed(void) {
    CHECK_STATUS(ipcm_host_init(), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_host_init(), IPCM_STATUS_OK);
    ipcm_hooks_t none = {0};
    CHECK_STATUS(ipcm_install_hooks(&none), IPCM_STATUS_BAD_PARAM);
    CHECK(ipcm_host_thread() != NULL);
    CHECK(ipcm_host_thread() == ipcm_host_thread());
    puts("init: idempotent, kernel hooks refused");
}

static void bad_input(void) {
    size_t id = make_pipe(8, 1, 0);
    char buf[8];
    size_t len = 99;
    CHECK_STATUS(ipcm_host_write(id, NULL, 1, 0), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_host_write(id, "123456789", 9, 0), IPCM_STATUS_TOO_LARGE);
    CHECK_STATUS(ipcm_host_write(id + 1, "x", 1, 0), IPCM_STATUS_NOT_FOUND);
    CHECK_STATUS(ipcm_host_read(id, NULL, 8, &len, 0), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_host_write(id, "x", 1, 0), IPCM_STATUS_OK);
    /* A buffer shorter than msg_size takes nothing. */
    CHECK_STATUS(ipcm_host_read(id, buf, 7, &len, IPCM_HOST_FOREVER), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_host_peek(id, buf, 7, &len, IPCM_HOST_FOREVER), IPCM_STATUS_BAD_PARAM);
    CHECK(info(id).queued == 1 && len == 99);
    CHECK_STATUS(ipcm_host_read(id + 1, buf, 8, &len, 0), IPCM_STATUS_NOT_FOUND);
    /* A NULL length is allowed. */
    CHECK_STATUS(ipcm_host_read(id, buf, 8, NULL, 0), IPCM_STATUS_OK);
    CHECK(buf[0] == 'x');
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    puts("bad input: statuses, nothing taken");
}

static void timeouts_cancel_the_operation(void) {
    size_t id = make_pipe(8, 1, 0);
    char buf[8];
    size_t len = 99;
    /* Empty pipe: a read times out, did not happen, leaves no waiter. */
    CHECK_STATUS(ipcm_host_read(id, buf, sizeof buf, &len, 1 * MS), IPCM_STATUS_TIMED_OUT);
    CHECK_STATUS(ipcm_host_read(id, buf, sizeof buf, &len, 0), IPCM_STATUS_TIMED_OUT);
    CHECK_STATUS(ipcm_host_peek(id, buf, sizeof buf, &len, 0), IPCM_STATUS_TIMED_OUT);
    CHECK(len == 99);
    CHECK(!ipcm_thread_is_pending(ipcm_host_thread()));
    /* A write that can complete does, even with a zero timeout. */
    CHECK_STATUS(ipcm_host_write(id, "a", 1, 0), IPCM_STATUS_OK);
    /* Full pipe: the write times out and is not written. */
    CHECK_STATUS(ipcm_host_write(id, "b", 1, 1 * MS), IPCM_STATUS_TIMED_OUT);
    CHECK_STATUS(ipcm_host_write(id, "b", 1, 0), IPCM_STATUS_TIMED_OUT);
    ipcm_pipe_info_t i = info(id);
    CHECK(i.queued == 1 && i.written == 1 && i.pending_writers == 0);
    /* The same through the seed's calls and ipcm_host_finish. */
    int status = ipcm_pipe_write(ipcm_host_thread(), id, "c", 1);
    CHECK_STATUS(status, IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_host_finish(status, 1 * MS), IPCM_STATUS_TIMED_OUT);
    CHECK_STATUS(ipcm_host_finish(IPCM_STATUS_FULL, IPCM_HOST_FOREVER), IPCM_STATUS_FULL);
    CHECK_STATUS(ipcm_host_read(id, buf, sizeof buf, &len, 0), IPCM_STATUS_OK);
    CHECK(len == 1 && buf[0] == 'a');
    CHECK(info(id).queued == 0);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    puts("timeouts: TIMED_OUT, nothing happened");
}

/* ---- a blocked thread is completed by another ------------------------ */

typedef struct waiter {
    size_t id;
    int peek;
    int status;
    size_t len;
    char buf[16];
} waiter_t;

static void *wait_receive(void *arg) {
    waiter_t *w = arg;
    w->status = w->peek ? ipcm_host_peek(w->id, w->buf, sizeof w->buf, &w->len, IPCM_HOST_FOREVER)
                        : ipcm_host_read(w->id, w->buf, sizeof w->buf, &w->len, IPCM_HOST_FOREVER);
    return NULL;
}

static void *wait_write(void *arg) {
    waiter_t *w = arg;
    w->status = ipcm_host_write(w->id, w->buf, w->len, IPCM_HOST_FOREVER);
    return NULL;
}

static void blocked_threads_complete_by_hand_off(void) {
    size_t id = make_pipe(16, 1, 0);
    waiter_t peeker = {.id = id, .peek = 1}, reader = {.id = id};
    pthread_t tp, tr, tw;
    CHECK(pthread_create(&tp, NULL, wait_receive, &peeker) == 0);
    await_pending(id, 0, 1, 0);
    CHECK(pthread_create(&tr, NULL, wait_receive, &reader) == 0);
    await_pending(id, 1, 1, 0);
    CHECK_STATUS(ipcm_host_write(id, "handed", 6, IPCM_HOST_FOREVER), IPCM_STATUS_OK);
    CHECK(pthread_join(tp, NULL) == 0 && pthread_join(tr, NULL) == 0);
    CHECK_STATUS(peeker.status, IPCM_STATUS_OK);
    CHECK_STATUS(reader.status, IPCM_STATUS_OK);
    CHECK(peeker.len == 6 && memcmp(peeker.buf, "handed", 6) == 0);
    CHECK(reader.len == 6 && memcmp(reader.buf, "handed", 6) == 0);
    CHECK(info(id).queued == 0); /* straight to the reader */

    /* A writer blocked on a full pipe is admitted by a read. */
    CHECK_STATUS(ipcm_host_write(id, "first", 5, 0), IPCM_STATUS_OK);
    waiter_t writer = {.id = id, .len = 6};
    memcpy(writer.buf, "second", 6);
    CHECK(pthread_create(&tw, NULL, wait_write, &writer) == 0);
    await_pending(id, 0, 0, 1);
    char buf[16];
    size_t len;
    CHECK_STATUS(ipcm_host_read(id, buf, sizeof buf, &len, 0), IPCM_STATUS_OK);
    CHECK(len == 5 && memcmp(buf, "first", 5) == 0);
    CHECK(pthread_join(tw, NULL) == 0);
    CHECK_STATUS(writer.status, IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_host_read(id, buf, sizeof buf, &len, 0), IPCM_STATUS_OK);
    CHECK(len == 6 && memcmp(buf, "second", 6) == 0);

    /* Destroy wakes a waiting reader with DESTROYED. */
    waiter_t orphan = {.id = id};
    CHECK(pthread_create(&tr, NULL, wait_receive, &orphan) == 0);
    await_pending(id, 1, 0, 0);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    CHECK(pthread_join(tr, NULL) == 0);
    CHECK_STATUS(orphan.status, IPCM_STATUS_DESTROYED);
    puts("hand-off: peeker, reader, writer, destroy");
}

/* ---- a thread that exits with an operation pending --------------------- */

static size_t exit_len;
static char exit_buf[16];

static void *read_and_exit(void *arg) {
    size_t id = *(size_t *)arg;
    /* BLOCKED and never finished: the runtime cancels it at thread exit. */
    CHECK_STATUS(ipcm_pipe_read(ipcm_host_thread(), id, exit_buf, &exit_len),
                 IPCM_STATUS_BLOCKED);
    return NULL;
}

static void exiting_thread_leaves_no_waiter(void) {
    size_t id = make_pipe(16, 1, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_and_exit, &id) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(info(id).pending_readers == 0);
    CHECK_STATUS(ipcm_host_write(id, "later", 5, 0), IPCM_STATUS_OK);
    CHECK(info(id).queued == 1); /* queued, not handed to the dead thread */
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    puts("thread exit: pending operation cancelled");
}

/* ---- many threads: every message once, per-writer order ---------------- */

#define WRITERS 4
#define READERS 3
#define PER_WRITER 2000

typedef struct msg {
    uint32_t writer, seq;
} msg_t;

static size_t stress_id;
static atomic_int stress_destroyed;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned seen[WRITERS][PER_WRITER];

static void *stress_writer(void *arg) {
    uint32_t writer = (uint32_t)(uintptr_t)arg;
    for (uint32_t seq = 0; seq < PER_WRITER; seq++) {
        msg_t m = {writer, seq};
        CHECK_STATUS(ipcm_host_write(stress_id, &m, sizeof m, IPCM_HOST_FOREVER), IPCM_STATUS_OK);
    }
    return NULL;
}

static void *stress_reader(void *arg) {
    (void)arg;
    uint32_t last[WRITERS];
    memset(last, 0xff, sizeof last);
    for (unsigned n = 0;; n++) {
        msg_t m;
        size_t len;
        /* A finite timeout on half the reads exercises cancel racing hand-off. */
        int status = ipcm_host_read(stress_id, &m, sizeof m, &len, (n & 1) ? 1 * MS : IPCM_HOST_FOREVER);
        if (status == IPCM_STATUS_TIMED_OUT) continue;
        /* The end: destroyed while waiting, or gone by id (NOT_FOUND). */
        if (status == IPCM_STATUS_DESTROYED || status == IPCM_STATUS_NOT_FOUND) {
            CHECK(atomic_load(&stress_destroyed));
            return NULL;
        }
        CHECK_STATUS(status, IPCM_STATUS_OK);
        CHECK(len == sizeof m && m.writer < WRITERS && m.seq < PER_WRITER);
        CHECK(last[m.writer] == UINT32_MAX || m.seq > last[m.writer]);
        last[m.writer] = m.seq;
        pthread_mutex_lock(&seen_lock);
        seen[m.writer][m.seq]++;
        pthread_mutex_unlock(&seen_lock);
    }
}

static void threads_conserve_messages(void) {
    stress_id = make_pipe(sizeof(msg_t), 2, 0);
    pthread_t writers[WRITERS], readers[READERS];
    for (uintptr_t r = 0; r < READERS; r++)
        CHECK(pthread_create(&readers[r], NULL, stress_reader, NULL) == 0);
    for (uintptr_t w = 0; w < WRITERS; w++)
        CHECK(pthread_create(&writers[w], NULL, stress_writer, (void *)w) == 0);
    for (int w = 0; w < WRITERS; w++) CHECK(pthread_join(writers[w], NULL) == 0);
    /* Every message written; wait until the readers took them all. */
    while (info(stress_id).read != (uint64_t)WRITERS * PER_WRITER) sched_yield();
    atomic_store(&stress_destroyed, 1);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, stress_id), IPCM_STATUS_OK);
    for (int r = 0; r < READERS; r++) CHECK(pthread_join(readers[r], NULL) == 0);
    for (int w = 0; w < WRITERS; w++)
        for (int s = 0; s < PER_WRITER; s++) CHECK(seen[w][s] == 1);
    printf("threads: %d messages conserved, per-writer order kept\n", WRITERS * PER_WRITER);
}

int main(void) {
    before_init();
    init_is_idempotent_and_sealed();
    bad_input();
    timeouts_cancel_the_operation();
    blocked_threads_complete_by_hand_off();
    exiting_thread_leaves_no_waiter();
    threads_conserve_messages();
    puts("hosted: ok");
    return 0;
}
