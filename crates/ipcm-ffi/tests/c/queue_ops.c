/*
 * The DESIGN §9 operations through the C ABI: close, purge, urgent writes,
 * sequence numbers, peek-newer, indexed peek, rendezvous pipes, select,
 * wake feedback and message priority.
 */
#include "sim.h"

static size_t make(size_t msg_size, size_t max_msgs, size_t flags) {
    ipc_pipe_t *pipe = ipcm_pipe_create(NULL, msg_size, max_msgs, flags);
    CHECK(pipe != NULL);
    return ipcm_pipe_id(pipe);
}

static void kput(size_t id, const char *msg) {
    CHECK_STATUS(ipcm_pipe_write(NULL, id, (void *)msg, strlen(msg)), IPCM_STATUS_OK);
}

static void close_purge_urgent_and_numbers(void) {
    sim_space_t *space = sim_space_new(0);
    sim_thread_t t;
    sim_thread_init(&t, "t", 1, space);
    size_t id = make(8, 4, 0);
    kput(id, "one");
    kput(id, "two");
    memcpy(sim_mem(&t, 0), "URG", 3);
    CHECK_STATUS(ipcm_pipe_write_urgent(&t, id, sim_va(0), 3, NULL), IPCM_STATUS_OK);
    /* peek_at(1) is "one", number 1; a read takes the urgent one, number 3. */
    CHECK_STATUS(ipcm_pipe_peek_at(&t, id, 1, sim_va(64), sim_va(128), sim_va(136)), IPCM_STATUS_OK);
    uint64_t seq;
    memcpy(&seq, sim_mem(&t, 136), sizeof seq);
    CHECK(seq == 1 && memcmp(sim_mem(&t, 64), "one", 3) == 0);
    CHECK_STATUS(ipcm_pipe_peek_at(&t, id, 3, sim_va(64), sim_va(128), sim_va(136)), IPCM_STATUS_EMPTY);
    CHECK_STATUS(ipcm_pipe_read_seq(&t, id, sim_va(64), sim_va(128), sim_va(136), NULL), IPCM_STATUS_OK);
    memcpy(&seq, sim_mem(&t, 136), sizeof seq);
    CHECK(seq == 3 && sim_read_size(&t, 128) == 3 && memcmp(sim_mem(&t, 64), "URG", 3) == 0);
    /* The kernel's form, from its own buffers. */
    char buf[8];
    size_t len = 0;
    CHECK_STATUS(ipcm_pipe_read_seq(NULL, id, buf, &len, &seq, NULL), IPCM_STATUS_OK);
    CHECK(seq == 1 && len == 3);
    size_t purged = 0;
    CHECK_STATUS(ipcm_pipe_purge(NULL, id, &purged), IPCM_STATUS_OK);
    CHECK(purged == 1);
    ipcm_pipe_info_t info = sim_info(id);
    CHECK(info.purged == 1 && info.queued == 0 && !info.closed);
    kput(id, "last");
    CHECK_STATUS(ipcm_pipe_close(NULL, id), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write(NULL, id, "x", 1), IPCM_STATUS_CLOSED);
    CHECK_STATUS(ipcm_pipe_read(NULL, id, buf, &len), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_read(NULL, id, buf, &len), IPCM_STATUS_CLOSED);
    CHECK(sim_info(id).closed);
    CHECK(strcmp(ipcm_status_name(IPCM_STATUS_CLOSED), "IPCM_STATUS_CLOSED") == 0);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_OK);
    free(space);
    printf("close, purge, urgent, numbers: ok\n");
}

static void peek_newer_and_rendezvous(void) {
    sim_space_t *space = sim_space_new(0);
    sim_thread_t watcher, reader;
    sim_thread_init(&watcher, "watcher", 1, space);
    sim_thread_init(&reader, "reader", 2, space);
    size_t board = make(8, 1, IPCM_FLAG_DISCARD_OLDEST);
    kput(board, "v1");
    CHECK_STATUS(ipcm_pipe_peek_newer(&watcher, board, 1, sim_va(0), sim_va(64), sim_va(72), NULL),
                 IPCM_STATUS_BLOCKED);
    CHECK(!sim_was_woken(&watcher));
    kput(board, "v2");
    CHECK_STATUS(sim_wait(&watcher), IPCM_STATUS_OK);
    CHECK(memcmp(sim_mem(&watcher, 0), "v2", 2) == 0);

    size_t meet = make(8, 0, 0);
    CHECK_STATUS(ipcm_pipe_write(NULL, meet, "x", 1), IPCM_STATUS_FULL);
    CHECK_STATUS(ipcm_pipe_read(&reader, meet, sim_va(128), sim_va(192)), IPCM_STATUS_BLOCKED);
    bool higher = false;
    CHECK_STATUS(ipcm_kernel_write_woke(meet, "hi", 2, 0, &higher), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&reader), IPCM_STATUS_OK);
    CHECK(memcmp(sim_mem(&reader, 128), "hi", 2) == 0);
    /* sim_priority_of gives every thread priority 0: not higher than 0. */
    CHECK(!higher);
    CHECK_STATUS(ipcm_pipe_create(NULL, 8, 0, IPCM_FLAG_DISCARD_OLDEST) == NULL ? IPCM_STATUS_OK : -1,
                 IPCM_STATUS_OK);
    free(space);
    printf("peek newer, rendezvous: ok\n");
}

static void select_completes_exactly_one(void) {
    sim_space_t *space = sim_space_new(0);
    sim_thread_t server;
    sim_thread_init(&server, "server", 1, space);
    ipcm_select_group_t *group = ipcm_select_group_new();
    CHECK(group != NULL);
    size_t a = make(8, 2, 0), b = make(8, 2, 0);
    ipcm_select_op_t ops[2] = {
        {IPCM_SELECT_READ, a, sim_va(0), (size_t *)sim_va(64), 0},
        {IPCM_SELECT_READ, b, sim_va(128), (size_t *)sim_va(192), 0},
    };
    size_t index = 99;
    int status = -1;
    ipcm_ticket_t ticket;
    CHECK_STATUS(ipcm_select(&server, group, ops, 2, &index, &status, &ticket), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_select_outcome(group, &index, &status), IPCM_STATUS_NOT_FOUND);
    kput(b, "to b");
    kput(a, "to a");
    CHECK_STATUS(sim_wait(&server), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_select_outcome(group, &index, &status), IPCM_STATUS_OK);
    CHECK(index == 1 && status == IPCM_STATUS_OK);
    CHECK(memcmp(sim_mem(&server, 128), "to b", 4) == 0 && sim_read_size(&server, 192) == 4);
    CHECK(sim_info(a).queued == 1 && sim_info(b).queued == 0);
    CHECK(!sim_was_woken(&server));
    /* Now `a` is ready: a select completes at once with it. */
    CHECK_STATUS(ipcm_select(&server, group, ops, 2, &index, &status, NULL), IPCM_STATUS_OK);
    CHECK(index == 0 && status == IPCM_STATUS_OK);
    /* A cancelled select ends as a whole. */
    CHECK_STATUS(ipcm_select(&server, group, ops, 2, &index, &status, &ticket), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_thread_cancel_op(&server, &ticket, IPCM_STATUS_TIMED_OUT), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&server), IPCM_STATUS_TIMED_OUT);
    CHECK_STATUS(ipcm_select_outcome(group, &index, &status), IPCM_STATUS_OK);
    CHECK(index == SIZE_MAX && status == IPCM_STATUS_TIMED_OUT);
    /* Bad lists change nothing. */
    CHECK_STATUS(ipcm_select(&server, group, ops, 0, &index, &status, NULL), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_select(&server, group, ops, IPCM_SELECT_MAX + 1, &index, &status, NULL),
                 IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_select(&server, NULL, ops, 2, &index, &status, NULL), IPCM_STATUS_BAD_PARAM);
    ops[1].kind = 7;
    CHECK_STATUS(ipcm_select(&server, group, ops, 2, &index, &status, NULL), IPCM_STATUS_BAD_PARAM);
    CHECK(!ipcm_thread_is_pending(&server));
    ipcm_select_group_free(group);
    free(space);
    printf("select: ok\n");
}

static void priority_messages(void) {
    sim_space_t *space = sim_space_new(0);
    sim_thread_t w;
    sim_thread_init(&w, "writer", 1, space);
    size_t id = make(8, 3, IPCM_FLAG_PRIORITY_MESSAGES);
    CHECK_STATUS(ipcm_pipe_write_prio(NULL, id, "low", 3, 1, NULL), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write_prio(NULL, id, "high", 4, 200, NULL), IPCM_STATUS_OK);
    memcpy(sim_mem(&w, 0), "low2", 4);
    CHECK_STATUS(ipcm_pipe_write_prio(&w, id, sim_va(0), 4, 1, NULL), IPCM_STATUS_OK);
    /* Full: the writer blocks, whatever its message's priority. */
    memcpy(sim_mem(&w, 0), "top", 3);
    ipcm_ticket_t ticket;
    CHECK_STATUS(ipcm_pipe_write_prio(&w, id, sim_va(0), 3, 255, &ticket), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_write_prio(NULL, id, "x", 1, 256, NULL), IPCM_STATUS_BAD_PARAM);
    /* Higher first, FIFO within a priority; the read admits the writer. */
    char buf[8];
    size_t len = 0;
    uint64_t seq = 0;
    CHECK_STATUS(ipcm_pipe_read_seq(NULL, id, buf, &len, &seq, NULL), IPCM_STATUS_OK);
    CHECK(len == 4 && memcmp(buf, "high", 4) == 0 && seq == 2);
    CHECK_STATUS(sim_wait(&w), IPCM_STATUS_OK);
    const char *order[] = {"top", "low", "low2"};
    for (int i = 0; i < 3; i++) {
        CHECK_STATUS(ipcm_pipe_read(NULL, id, buf, &len), IPCM_STATUS_OK);
        CHECK(len == strlen(order[i]) && memcmp(buf, order[i], len) == 0);
    }
    /* A priority on a plain pipe, or the flag on a rendezvous pipe. */
    size_t plain = make(8, 2, 0);
    CHECK_STATUS(ipcm_pipe_write_prio(NULL, plain, "x", 1, 1, NULL), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_write_prio(NULL, plain, "x", 1, 0, NULL), IPCM_STATUS_OK);
    CHECK(ipcm_pipe_create(NULL, 8, 0, IPCM_FLAG_PRIORITY_MESSAGES) == NULL);
    free(space);
    printf("priority messages: ok\n");
}

int main(void) {
    ipcm_init();
    sim_install();
    close_purge_urgent_and_numbers();
    peek_newer_and_rendezvous();
    select_completes_exactly_one();
    priority_messages();
    printf("queue_ops: ok\n");
    return 0;
}
