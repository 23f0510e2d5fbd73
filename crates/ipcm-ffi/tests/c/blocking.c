/*
 * The blocking protocol through the C ABI: pending operations completed by
 * direct hand-off, one wake each; cancel, destroy, faults while completing.
 */
#include "sim.h"

static sim_space_t *space_a, *space_b;
static sim_thread_t reader, reader2, writer, peeker1, peeker2;

static void setup(void) {
    space_a = sim_space_new(0);
    space_b = sim_space_new(0);
    sim_thread_init(&reader, "reader", 1, space_a);
    sim_thread_init(&reader2, "reader2", 1, space_a);
    sim_thread_init(&writer, "writer", 2, space_b);
    sim_thread_init(&peeker1, "peeker1", 3, space_b);
    sim_thread_init(&peeker2, "peeker2", 3, space_b);
}

/* The seed's headline: a reader of an empty pipe blocks; a writer puts the
 * message straight into its buffer and its length into *valen, then the
 * reader is woken with OK, without a retry. */
static void blocked_reader_woken_with_message_and_length(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("handoff", 64, 4, 0);
    CHECK(pipe != NULL);
    size_t id = ipcm_pipe_id(pipe);
    memset(sim_mem(&reader, 0), 0xEE, 64);

    CHECK_STATUS(ipcm_pipe_read(&reader, id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
    CHECK(ipcm_thread_is_pending(&reader));
    CHECK(sim_info(id).pending_readers == 1);
    CHECK(!sim_was_woken(&reader));

    strcpy((char *)sim_mem(&writer, 0x200), "hello, reader");
    CHECK_STATUS(ipcm_pipe_write(&writer, id, sim_va(0x200), 14), IPCM_STATUS_OK);

    /* Woken exactly once, with OK; message and *valen already in place. */
    CHECK(reader.wakes == 1 && reader.status == IPCM_STATUS_OK);
    CHECK(strcmp((char *)sim_mem(&reader, 0), "hello, reader") == 0);
    CHECK(sim_read_size(&reader, 64) == 14);
    CHECK(*sim_mem(&reader, 14) == 0xEE); /* nothing past the message */
    CHECK(!ipcm_thread_is_pending(&reader));
    ipcm_pipe_info_t info = sim_info(id);
    CHECK(info.queued == 0 && info.written == 1 && info.pending_readers == 0);
    CHECK_STATUS(sim_wait(&reader), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    printf("blocked reader woken with message and length: ok\n");
}

/* A writer to a full pipe blocks; a read frees a slot and admits it. */
static void blocked_writer_admitted_when_a_slot_frees(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("full", 8, 2, 0);
    size_t id = ipcm_pipe_id(pipe);
    for (int i = 0; i < 3; i++) sim_mem(&writer, 0x300 + 8 * (size_t)i)[0] = (unsigned char)('1' + i);
    CHECK_STATUS(ipcm_pipe_write(&writer, id, sim_va(0x300), 1), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write(&writer, id, sim_va(0x308), 1), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_try_write(&writer, id, sim_va(0x310), 1), IPCM_STATUS_FULL);
    CHECK_STATUS(ipcm_pipe_write(&writer, id, sim_va(0x310), 1), IPCM_STATUS_BLOCKED);
    CHECK(sim_info(id).pending_writers == 1);

    /* The read frees a slot: the pending write is admitted (copied from
     * the writer's space, which a blocked thread does not touch) and the
     * writer is woken with OK. */
    CHECK_STATUS(ipcm_pipe_read(&reader, id, sim_va(0), sim_va(64)), IPCM_STATUS_OK);
    CHECK(*sim_mem(&reader, 0) == '1');
    CHECK_STATUS(sim_wait(&writer), IPCM_STATUS_OK);
    CHECK(sim_info(id).queued == 2);
    for (char expected = '2'; expected <= '3'; expected++) {
        CHECK_STATUS(ipcm_pipe_try_read(&reader, id, sim_va(0), sim_va(64)), IPCM_STATUS_OK);
        CHECK(*sim_mem(&reader, 0) == expected);
    }
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    printf("blocked writer admitted: ok\n");
}

/* Every pending peeker gets a copy, then the oldest reader takes it. */
static void peekers_get_copies_then_reader_takes(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("peek", 16, 2, 0);
    size_t id = ipcm_pipe_id(pipe);
    CHECK_STATUS(ipcm_pipe_peek(&peeker1, id, sim_va(0x400), sim_va(0x410)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_peek(&peeker2, id, sim_va(0x500), sim_va(0x510)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read(&reader, id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read(&reader2, id, sim_va(0x80), sim_va(0xC0)), IPCM_STATUS_BLOCKED);

    const char msg[] = "shared";
    CHECK_STATUS(ipcm_pipe_write(NULL, id, (void *)msg, sizeof msg), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&peeker1), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&peeker2), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&reader), IPCM_STATUS_OK);
    CHECK(strcmp((char *)sim_mem(&peeker1, 0x400), "shared") == 0);
    CHECK(strcmp((char *)sim_mem(&peeker2, 0x500), "shared") == 0);
    CHECK(strcmp((char *)sim_mem(&reader, 0), "shared") == 0);
    CHECK(sim_read_size(&peeker2, 0x510) == sizeof msg);
    /* FIFO: the second reader is still waiting, the message was taken. */
    CHECK(ipcm_thread_is_pending(&reader2) && !sim_was_woken(&reader2));
    ipcm_pipe_info_t info = sim_info(id);
    CHECK(info.queued == 0 && info.pending_readers == 1 && info.pending_peekers == 0);

    /* Destroy wakes the remaining waiter with DESTROYED. */
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&reader2), IPCM_STATUS_DESTROYED);
    CHECK(!ipcm_thread_is_pending(&reader2));
    printf("peekers then reader, destroy wakes: ok\n");
}

/* Cancel is one-shot: the thread is woken once with the reason and its
 * read did not happen; a message written later stays queued. */
static void cancel_ends_a_pending_read(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("cancel", 8, 2, 0);
    size_t id = ipcm_pipe_id(pipe);
    CHECK_STATUS(ipcm_pipe_read(&reader, id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_thread_cancel(&reader, IPCM_STATUS_TIMED_OUT), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&reader), IPCM_STATUS_TIMED_OUT);
    CHECK(!ipcm_thread_is_pending(&reader));
    CHECK_STATUS(ipcm_thread_cancel(&reader, IPCM_STATUS_CANCELLED), IPCM_STATUS_NOT_FOUND);

    unsigned char byte = 42;
    CHECK_STATUS(ipcm_pipe_write(NULL, id, &byte, 1), IPCM_STATUS_OK);
    CHECK(reader.wakes == reader.consumed); /* no second wake */
    CHECK(sim_info(id).queued == 1);

    /* A blocked writer cancelled (thread killed): its message never lands. */
    CHECK_STATUS(ipcm_pipe_write(NULL, id, &byte, 1), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write(&writer, id, sim_va(0x300), 1), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_thread_cancel(&writer, IPCM_STATUS_CANCELLED), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&writer), IPCM_STATUS_CANCELLED);
    ipcm_pipe_info_t info = sim_info(id);
    CHECK(info.queued == 2 && info.written == 2 && info.pending_writers == 0);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    printf("cancel: ok\n");
}

/* A fault while completing someone's pending read wakes *that* reader with
 * BAD_ADDRESS; the writer's message is not lost. */
static void fault_during_hand_off_keeps_the_message(void) {
    sim_space_t *readonly_space = sim_space_new(SIM_SPACE_SIZE);
    sim_thread_t bad_reader;
    sim_thread_init(&bad_reader, "bad-reader", 4, readonly_space);
    ipc_pipe_t *pipe = ipcm_pipe_create("fault", 8, 2, 0);
    size_t id = ipcm_pipe_id(pipe);

    /* Its buffer is read-only: the read cannot be completed. */
    CHECK_STATUS(ipcm_pipe_read(&bad_reader, id, sim_va(0), sim_va(16)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read(&reader, id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
    unsigned char byte = 7;
    CHECK_STATUS(ipcm_pipe_write(NULL, id, &byte, 1), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&bad_reader), IPCM_STATUS_BAD_ADDRESS);
    CHECK_STATUS(sim_wait(&reader), IPCM_STATUS_OK);
    CHECK(*sim_mem(&reader, 0) == 7);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    free(readonly_space);
    printf("fault during hand-off: ok\n");
}

/* Destroy: waiters get DESTROYED, the id is never valid again, the name is
 * free for a new pipe with a new id. */
static void destroy_retires_the_id_and_frees_the_name(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("reborn", 8, 1, 0);
    size_t old_id = ipcm_pipe_id(pipe);
    unsigned char byte = 1;
    CHECK_STATUS(ipcm_pipe_write(NULL, old_id, &byte, 1), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write(&writer, old_id, sim_va(0x300), 1), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, old_id), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&writer), IPCM_STATUS_DESTROYED);

    CHECK(ipcm_pipe_lookup_by_id(old_id) == NULL);
    CHECK(ipcm_pipe_lookup_by_name("reborn") == NULL);
    CHECK_STATUS(ipcm_pipe_write(NULL, old_id, &byte, 1), IPCM_STATUS_NOT_FOUND);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, old_id), IPCM_STATUS_NOT_FOUND);

    ipc_pipe_t *again = ipcm_pipe_create("reborn", 8, 1, 0);
    CHECK(again != NULL && ipcm_pipe_id(again) != old_id);
    CHECK(ipcm_pipe_lookup_by_name("reborn") == again);
    /* The stale handle still names nothing. */
    char name[16];
    CHECK_STATUS(ipcm_pipe_name(pipe, name, sizeof name, NULL), IPCM_STATUS_NOT_FOUND);
    CHECK_STATUS(ipcm_pipe_name(again, name, sizeof name, NULL), IPCM_STATUS_OK);
    CHECK(strcmp(name, "reborn") == 0);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, ipcm_pipe_id(again)), IPCM_STATUS_OK);
    printf("destroy: ok\n");
}

/* Waiters of a priority pipe are served by priority, FIFO within one. */
static void priority_waiters(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("prio", 8, 1, IPCM_FLAG_PRIORITY_WAITERS);
    size_t id = ipcm_pipe_id(pipe);
    sim_thread_t low, high;
    sim_thread_init(&low, "low", 5, space_a);
    sim_thread_init(&high, "high", 5, space_a);
    low.priority = 1;
    high.priority = 9;
    CHECK_STATUS(ipcm_pipe_read(&low, id, sim_va(0x600), sim_va(0x610)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read(&high, id, sim_va(0x700), sim_va(0x710)), IPCM_STATUS_BLOCKED);
    unsigned char byte = 'h';
    CHECK_STATUS(ipcm_pipe_write(NULL, id, &byte, 1), IPCM_STATUS_OK);
    CHECK(high.wakes == 1 && low.wakes == 0);
    CHECK(*sim_mem(&high, 0x700) == 'h');
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&low), IPCM_STATUS_DESTROYED);
    printf("priority waiters: ok\n");
}

/* The wake hook may call back into the IPC manager. */
static sim_thread_t *rearm_thread;
static size_t rearm_pipe;
static int rearm_status = -100;
static void rearming_wake(void *ctx, thread_t *t, int status) {
    sim_wake(ctx, t, status);
    if (t == rearm_thread && rearm_status == -100) {
        rearm_status = ipcm_pipe_read(t, rearm_pipe, sim_va(0x800), sim_va(0x810));
    }
}

static void wake_hook_may_reenter(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("reenter", 8, 2, 0);
    rearm_pipe = ipcm_pipe_id(pipe);
    rearm_thread = &reader;
    ipcm_hooks_t hooks = {NULL, sim_copy_from_user, sim_copy_to_user, rearming_wake,
                          sim_process_of, sim_priority_of};
    CHECK_STATUS(ipcm_install_hooks(&hooks), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_read(&reader, rearm_pipe, sim_va(0x800), sim_va(0x810)), IPCM_STATUS_BLOCKED);
    unsigned char byte = 'r';
    CHECK_STATUS(ipcm_pipe_write(NULL, rearm_pipe, &byte, 1), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&reader), IPCM_STATUS_OK);
    /* The reader's next read, issued from inside its wake, is pending. */
    CHECK_STATUS(rearm_status, IPCM_STATUS_BLOCKED);
    CHECK(ipcm_thread_is_pending(&reader));
    sim_install();
    CHECK_STATUS(ipcm_pipe_destroy(NULL, rearm_pipe), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&reader), IPCM_STATUS_DESTROYED);
    printf("wake hook re-enters: ok\n");
}

int main(void) {
    ipcm_init();
    sim_install();
    setup();
    blocked_reader_woken_with_message_and_length();
    blocked_writer_admitted_when_a_slot_frees();
    peekers_get_copies_then_reader_takes();
    cancel_ends_a_pending_read();
    fault_during_hand_off_keeps_the_message();
    destroy_retires_the_id_and_frees_the_name();
    priority_waiters();
    wake_hook_may_reenter();
    printf("blocking: ok\n");
    return 0;
}
