/*
 * Cancel, then free the thread (DESIGN §8, wake before return): after
 * ipcm_thread_cancel or ipcm_thread_cancel_op returns OK the kernel frees
 * the thread_t, as the header allows. That must hold even while another
 * CPU's call is stalled inside a wake hook (a preempted CPU): no wake may
 * reach a freed thread later. The cancelled threads live on the heap, so
 * AddressSanitizer reports any late wake as a use after free.
 *
 * One peeker and three readers wait on an empty pipe. A writer on another
 * pthread hands its message to the peeker and reader 1 and stalls in the
 * peeker's wake. Meanwhile reader 2 is cancelled with ipcm_thread_cancel
 * (a killed thread) and reader 3 with ipcm_thread_cancel_op (a timeout),
 * and both are freed at once. A late timer for reader 1 (its ticket is
 * stale once the writer finished it) changes nothing.
 */
#include <stdatomic.h>

#include "sim.h"

static sim_thread_t writer, peeker, reader1;
static sim_thread_t *reader2, *reader3;
static size_t pipe_id;

static pthread_mutex_t stall_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stall_cond = PTHREAD_COND_INITIALIZER;
static int stalled, released;

/* The wake hook: the peeker's wake stalls until the test releases it. */
static void stalling_wake(void *ctx, thread_t *t, int status) {
    if (t == &peeker) {
        pthread_mutex_lock(&stall_lock);
        stalled = 1;
        pthread_cond_broadcast(&stall_cond);
        while (!released) {
            pthread_cond_wait(&stall_cond, &stall_lock);
        }
        pthread_mutex_unlock(&stall_lock);
    }
    sim_wake(ctx, t, status);
}

static void *write_one(void *arg) {
    (void)arg;
    memcpy(sim_mem(&writer, 0), "ping", 4);
    CHECK_STATUS(ipcm_pipe_write(&writer, pipe_id, sim_va(0), 4), IPCM_STATUS_OK);
    return NULL;
}

static sim_thread_t *heap_thread(const char *name, uint64_t process) {
    sim_thread_t *t = malloc(sizeof *t);
    CHECK(t != NULL);
    sim_thread_init(t, name, process, sim_space_new(0));
    return t;
}

static void free_thread(sim_thread_t *t) {
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t->space);
    free(t);
}

int main(void) {
    ipcm_hooks_t hooks = {
        .ctx = NULL,
        .copy_from_user = sim_copy_from_user,
        .copy_to_user = sim_copy_to_user,
        .wake = stalling_wake,
        .process_of = sim_process_of,
        .priority_of = sim_priority_of,
    };
    CHECK_STATUS(ipcm_install_hooks(&hooks), IPCM_STATUS_OK);
    sim_thread_init(&writer, "writer", 1, sim_space_new(0));
    sim_thread_init(&peeker, "peeker", 2, sim_space_new(0));
    sim_thread_init(&reader1, "reader1", 3, sim_space_new(0));
    reader2 = heap_thread("reader2", 4);
    reader3 = heap_thread("reader3", 5);

    ipc_pipe_t *pipe = ipcm_pipe_create(NULL, 16, 2, 0);
    CHECK(pipe != NULL);
    pipe_id = ipcm_pipe_id(pipe);

    ipcm_ticket_t t1, t3, untouched = {0, 0, 0}, ticket = untouched;
    CHECK_STATUS(ipcm_pipe_peek(&peeker, pipe_id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read_ticket(&reader1, pipe_id, sim_va(0), sim_va(64), &t1),
                 IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read(reader2, pipe_id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read_ticket(reader3, pipe_id, sim_va(0), sim_va(64), &t3),
                 IPCM_STATUS_BLOCKED);
    CHECK(t1.pipe == pipe_id && t3.pipe == pipe_id);
    CHECK(t1.seq != t3.seq);

    /* A call that completes leaves the ticket untouched. */
    ipc_pipe_t *other = ipcm_pipe_create(NULL, 16, 1, 0);
    CHECK(other != NULL);
    CHECK_STATUS(ipcm_pipe_write_ticket(&writer, ipcm_pipe_id(other), sim_va(0), 1, &ticket),
                 IPCM_STATUS_OK);
    CHECK(memcmp(&ticket, &untouched, sizeof ticket) == 0);

    pthread_t writer_thread;
    CHECK(pthread_create(&writer_thread, NULL, write_one, NULL) == 0);
    pthread_mutex_lock(&stall_lock);
    while (!stalled) {
        pthread_cond_wait(&stall_cond, &stall_lock);
    }
    pthread_mutex_unlock(&stall_lock);

    /* The writer finished the peeker and reader 1 and is stuck waking the
     * peeker. Kill reader 2 and time out reader 3; each is woken before its
     * cancel returns, so both are freed at once. */
    CHECK_STATUS(ipcm_thread_cancel(reader2, IPCM_STATUS_CANCELLED), IPCM_STATUS_OK);
    CHECK(sim_was_woken(reader2));
    CHECK(!ipcm_thread_is_pending(reader2));
    CHECK(sim_wait(reader2) == IPCM_STATUS_CANCELLED);
    free_thread(reader2);
    CHECK_STATUS(ipcm_thread_cancel_op(reader3, &t3, IPCM_STATUS_TIMED_OUT), IPCM_STATUS_OK);
    CHECK(sim_was_woken(reader3));
    CHECK(!ipcm_thread_is_pending(reader3));
    CHECK(sim_wait(reader3) == IPCM_STATUS_TIMED_OUT);
    free_thread(reader3);
    /* A late timer for reader 1: the writer finished it, so its ticket is
     * stale, though its wake is still to come from the stalled call. */
    CHECK_STATUS(ipcm_thread_cancel_op(&reader1, &t1, IPCM_STATUS_TIMED_OUT),
                 IPCM_STATUS_NOT_FOUND);
    CHECK(!sim_was_woken(&reader1));
    /* Bad arguments change nothing. */
    CHECK_STATUS(ipcm_thread_cancel_op(&reader1, NULL, IPCM_STATUS_TIMED_OUT),
                 IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_thread_cancel_op(NULL, &t1, IPCM_STATUS_TIMED_OUT), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_thread_cancel_op(&reader1, &t1, IPCM_STATUS_OK), IPCM_STATUS_BAD_PARAM);

    pthread_mutex_lock(&stall_lock);
    released = 1;
    pthread_cond_broadcast(&stall_cond);
    pthread_mutex_unlock(&stall_lock);
    CHECK(pthread_join(writer_thread, NULL) == 0);
    CHECK(sim_wait(&peeker) == IPCM_STATUS_OK);
    CHECK(sim_wait(&reader1) == IPCM_STATUS_OK);
    CHECK(memcmp(sim_mem(&reader1, 0), "ping", 4) == 0);
    CHECK(sim_info(pipe_id).pending_readers == 0);
    CHECK(sim_info(pipe_id).queued == 0);

    printf("cancel_free: ok\n");
    return 0;
}
