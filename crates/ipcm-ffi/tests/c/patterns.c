/*
 * The three usage patterns of the seed, through the C ABI with simulated
 * threads in separate address spaces.
 */
#include "sim.h"

/* Blackboard: depth 1, discard-oldest; readers always see the freshest
 * value, and any number of them can peek at it. */
static void blackboard(void) {
    sim_space_t *producer_space = sim_space_new(0), *reader_space = sim_space_new(0);
    sim_thread_t producer, reader_a, reader_b;
    sim_thread_init(&producer, "producer", 1, producer_space);
    sim_thread_init(&reader_a, "reader-a", 2, reader_space);
    sim_thread_init(&reader_b, "reader-b", 3, reader_space);

    ipc_pipe_t *pipe = ipcm_pipe_create("blackboard", sizeof(uint64_t), 1, IPCM_FLAG_DISCARD_OLDEST);
    CHECK(pipe != NULL);
    size_t id = ipcm_pipe_id(pipe);

    /* A reader peeking at an empty blackboard waits for the first value. */
    CHECK_STATUS(ipcm_pipe_peek(&reader_a, id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);

    for (uint64_t value = 1; value <= 5; value++) {
        memcpy(sim_mem(&producer, 0), &value, sizeof value);
        /* Never blocks: a full blackboard drops its old value. */
        CHECK_STATUS(ipcm_pipe_write(&producer, id, sim_va(0), sizeof value), IPCM_STATUS_OK);
        if (value == 1) {
            CHECK_STATUS(sim_wait(&reader_a), IPCM_STATUS_OK);
            uint64_t seen;
            memcpy(&seen, sim_mem(&reader_a, 0), sizeof seen);
            CHECK(seen == 1 && sim_read_size(&reader_a, 64) == sizeof seen);
        }
    }

    /* Every reader sees the freshest value, as often as it likes. */
    for (int i = 0; i < 3; i++) {
        sim_thread_t *reader = i % 2 ? &reader_b : &reader_a;
        size_t at = 128 + 16 * (size_t)i;
        CHECK_STATUS(ipcm_pipe_try_peek(reader, id, sim_va(at), sim_va(at + 8)), IPCM_STATUS_OK);
        uint64_t seen;
        memcpy(&seen, sim_mem(reader, at), sizeof seen);
        CHECK(seen == 5);
    }
    ipcm_pipe_info_t info = sim_info(id);
    CHECK(info.queued == 1 && info.written == 5 && info.dropped == 4 && info.read == 0);

    /* The kernel reads the blackboard from its own buffer. */
    uint64_t latest = 0;
    size_t len = 0;
    CHECK_STATUS(ipcm_pipe_read(NULL, id, &latest, &len), IPCM_STATUS_OK);
    CHECK(latest == 5 && len == sizeof latest);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    free(producer_space);
    free(reader_space);
    printf("blackboard: ok\n");
}

/* Token semaphore: depth N pre-filled with N tokens; read = acquire
 * (blocks when none are left), write = release. */
static void token_semaphore(void) {
    enum { TOKENS = 3 };
    sim_space_t *space = sim_space_new(0);
    sim_thread_t workers[TOKENS + 1];
    for (int i = 0; i <= TOKENS; i++) sim_thread_init(&workers[i], "worker", 1, space);

    ipc_pipe_t *pipe = ipcm_pipe_create("tokens", 1, TOKENS, 0);
    CHECK(pipe != NULL);
    size_t id = ipcm_pipe_id(pipe);
    for (unsigned char token = 'A'; token < 'A' + TOKENS; token++) {
        CHECK_STATUS(ipcm_pipe_write(NULL, id, &token, 1), IPCM_STATUS_OK);
    }
    /* Releasing into a full token pipe is a bug (a release without an
     * acquire): the kernel is told FULL rather than silently capped. */
    unsigned char extra = 'Z';
    CHECK_STATUS(ipcm_pipe_write(NULL, id, &extra, 1), IPCM_STATUS_FULL);

    /* Each worker's token lands at its own VA: 16 * i. */
    for (int i = 0; i < TOKENS; i++) {
        size_t at = 16 * (size_t)i;
        CHECK_STATUS(ipcm_pipe_read(&workers[i], id, sim_va(at), sim_va(at + 8)), IPCM_STATUS_OK);
        CHECK(*sim_mem(&workers[i], at) == 'A' + i);
    }
    /* None left: the last worker waits. */
    sim_thread_t *last = &workers[TOKENS];
    size_t at = 16 * TOKENS;
    CHECK_STATUS(ipcm_pipe_read(last, id, sim_va(at), sim_va(at + 8)), IPCM_STATUS_BLOCKED);
    CHECK(ipcm_thread_is_pending(last) && !sim_was_woken(last));

    /* Worker 1 releases its token: it goes straight to the waiter. */
    CHECK_STATUS(ipcm_pipe_write(&workers[1], id, sim_va(16), 1), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(last), IPCM_STATUS_OK);
    CHECK(*sim_mem(last, at) == 'B' && sim_read_size(last, at + 8) == 1);
    CHECK(!ipcm_thread_is_pending(last));
    CHECK(sim_info(id).queued == 0);

    /* Everyone releases: the pipe is full of tokens again. */
    CHECK_STATUS(ipcm_pipe_write(&workers[0], id, sim_va(0), 1), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write(&workers[2], id, sim_va(32), 1), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write(last, id, sim_va(at), 1), IPCM_STATUS_OK);
    CHECK(sim_info(id).queued == TOKENS);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    free(space);
    printf("token semaphore: ok\n");
}

/* Message passing: a client and a server in different address spaces talk
 * through a request pipe and a reply pipe. */
static void message_passing(void) {
    sim_space_t *client_space = sim_space_new(0), *server_space = sim_space_new(0);
    sim_thread_t client, server;
    sim_thread_init(&client, "client", 10, client_space);
    sim_thread_init(&server, "server", 20, server_space);

    /* The server owns its request pipe: only it may read requests. */
    ipc_pipe_t *requests = NULL, *replies = NULL;
    CHECK_STATUS(ipcm_pipe_create_as(&server, "svc.requests", 32, 4, IPCM_FLAG_OWNER_READ, &requests),
                 IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_create_as(&client, "svc.replies.10", 32, 1, IPCM_FLAG_OWNER_READ, &replies),
                 IPCM_STATUS_OK);
    size_t request_id = ipcm_pipe_id(ipcm_pipe_lookup_by_name("svc.requests"));
    size_t reply_id = ipcm_pipe_id(ipcm_pipe_lookup_by_name("svc.replies.10"));
    CHECK(request_id == ipcm_pipe_id(requests) && reply_id == ipcm_pipe_id(replies));

    /* The server waits for a request into its buffer at VA 0x100. */
    CHECK_STATUS(ipcm_pipe_read(&server, request_id, sim_va(0x100), sim_va(0x180)), IPCM_STATUS_BLOCKED);

    /* The client writes "ping 7" from VA 0x100 of *its* space. */
    strcpy((char *)sim_mem(&client, 0x100), "ping 7");
    CHECK_STATUS(ipcm_pipe_write(&client, request_id, sim_va(0x100), 7), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&server), IPCM_STATUS_OK);
    CHECK(strcmp((char *)sim_mem(&server, 0x100), "ping 7") == 0);
    CHECK(sim_read_size(&server, 0x180) == 7);

    /* The client may not read the server's requests. */
    CHECK_STATUS(ipcm_pipe_try_read(&client, request_id, sim_va(0x200), sim_va(0x280)), IPCM_STATUS_DENIED);

    /* The server replies; the client reads the reply into its space. */
    strcpy((char *)sim_mem(&server, 0x200), "pong 7");
    CHECK_STATUS(ipcm_pipe_write(&server, reply_id, sim_va(0x200), 7), IPCM_STATUS_OK);
    CHECK_STATUS(sim_finish(&client, ipcm_pipe_read(&client, reply_id, sim_va(0x300), sim_va(0x380))),
                 IPCM_STATUS_OK);
    CHECK(strcmp((char *)sim_mem(&client, 0x300), "pong 7") == 0);
    CHECK(sim_read_size(&client, 0x380) == 7);
    /* The spaces are separate: the client's 0x100 still has its request. */
    CHECK(strcmp((char *)sim_mem(&client, 0x100), "ping 7") == 0);
    CHECK(*sim_mem(&server, 0x300) == 0);

    /* Only the owner (or the kernel) destroys. */
    CHECK_STATUS(ipcm_pipe_destroy(&client, request_id), IPCM_STATUS_DENIED);
    CHECK_STATUS(ipcm_pipe_destroy(&server, request_id), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_destroy(&client, reply_id), IPCM_STATUS_OK);
    free(client_space);
    free(server_space);
    printf("message passing: ok\n");
}

int main(void) {
    ipcm_init();
    sim_install();
    blackboard();
    token_semaphore();
    message_passing();
    printf("patterns: ok\n");
    return 0;
}
