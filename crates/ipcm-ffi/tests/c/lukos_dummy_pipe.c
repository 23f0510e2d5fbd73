/*
 * How upstream LuKOS used pipes (apps/004-ipc): the main thread creates
 * "dummy-pipe" of 60 messages of a {size_t x; size_t y;} struct, looks it
 * up by name, starts a consumer thread in the same process and writes
 * `data` with an increasing x forever; the consumer reads in a loop.
 *
 * Here the kernel side is the seed's: syscall handlers call the ipcm_*
 * functions and park a BLOCKED thread until its wake, as LuKOS's scheduler
 * would. The producer and consumer run on two pthreads; the consumer checks
 * that it gets every message, in order.
 */
#include "sim.h"

typedef struct {
    size_t x;
    size_t y;
} dummy_t;

enum { MESSAGES = 5000 };

/* ---- the kernel's syscall handlers (after kernel/src/userspace/ipc.c) -- */

static int syscall_ipc_pipe_create(thread_t *thread, char *name, size_t msg_size, size_t max_msgs,
                                   size_t flags) {
    (void)thread;
    if (msg_size == 0 || max_msgs == 0) return -1;
    return ipcm_pipe_create(name, msg_size, max_msgs, flags) != NULL ? 0 : -1;
}

static int syscall_ipc_pipe_id_get(thread_t *thread, char *name, size_t *id_va) {
    ipc_pipe_t *pipe = ipcm_pipe_lookup_by_name(name);
    if (pipe == NULL) return -1;
    size_t id = ipcm_pipe_id(pipe);
    return sim_copy_to_user(NULL, thread, id_va, &id, sizeof id) == 0 ? 0 : -1;
}

static size_t blocked_writes;

static int syscall_ipc_pipe_write(thread_t *thread, size_t id, void *msg, size_t len) {
    int status = ipcm_pipe_write(thread, id, msg, len);
    if (status == IPCM_STATUS_BLOCKED) blocked_writes++;
    return sim_finish(thread, status);
}

static int syscall_ipc_pipe_read(thread_t *thread, size_t id, void *msg, size_t *len) {
    return sim_finish(thread, ipcm_pipe_read(thread, id, msg, len));
}

/* ---- the application: one process, two threads ------------------------ */

static sim_space_t *process_space;
static sim_thread_t main_thread, consumer;

/* Where each thread keeps its locals in the shared address space. */
enum { MAIN_DATA = 0x100, MAIN_PIPE_ID = 0x120, CONSUMER_DATA = 0x200, CONSUMER_LEN = 0x220 };

static void *consumer_thread(void *arg) {
    size_t pipe = (size_t)arg;
    for (size_t i = 0; i < MESSAGES; i++) {
        int status = syscall_ipc_pipe_read(&consumer, pipe, sim_va(CONSUMER_DATA), sim_va(CONSUMER_LEN));
        CHECK_STATUS(status, IPCM_STATUS_OK);
        dummy_t data;
        memcpy(&data, sim_mem(&consumer, CONSUMER_DATA), sizeof data);
        CHECK(sim_read_size(&consumer, CONSUMER_LEN) == sizeof(dummy_t));
        if (data.x != 93 + i || data.y != 94) {
            fprintf(stderr, "message %zu: x=%zu y=%zu\n", i, data.x, data.y);
            exit(1);
        }
    }
    return NULL;
}

int main(void) {
    ipcm_init();
    sim_install();
    process_space = sim_space_new(0);
    sim_thread_init(&main_thread, "main", 1, process_space);
    sim_thread_init(&consumer, "new-thread", 1, process_space);
    main_thread.priority = consumer.priority = 254;

    CHECK(syscall_ipc_pipe_create(&main_thread, "dummy-pipe", sizeof(dummy_t), 60, 0) == 0);
    CHECK(syscall_ipc_pipe_id_get(&main_thread, "dummy-pipe", sim_va(MAIN_PIPE_ID)) == 0);
    size_t dummy_pipe = sim_read_size(&main_thread, MAIN_PIPE_ID);
    CHECK(dummy_pipe != 0);
    ipcm_pipe_info_t info = sim_info(dummy_pipe);
    CHECK(info.max_msgs == 60 && info.msg_size == sizeof(dummy_t) && info.owner == 0);

    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, consumer_thread, (void *)dummy_pipe) == 0);

    dummy_t data = {93, 94};
    for (size_t i = 0; i < MESSAGES; i++) {
        memcpy(sim_mem(&main_thread, MAIN_DATA), &data, sizeof data);
        int status = syscall_ipc_pipe_write(&main_thread, dummy_pipe, sim_va(MAIN_DATA), sizeof(dummy_t));
        CHECK_STATUS(status, IPCM_STATUS_OK);
        data.x++;
    }
    CHECK(pthread_join(thread, NULL) == 0);

    info = sim_info(dummy_pipe);
    CHECK(info.written == MESSAGES && info.read == MESSAGES && info.queued == 0);
    printf("dummy-pipe: %d messages of %zu bytes in order (producer blocked %zu times)\n", MESSAGES,
           sizeof(dummy_t), blocked_writes);
    printf("lukos_dummy_pipe: ok\n");
    return 0;
}
