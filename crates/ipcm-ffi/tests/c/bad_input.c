/*
 * Every bad input is answered with a status or NULL, changes nothing, and
 * crashes nothing. Buffers that the library must not overrun end at a
 * PROT_NONE guard page, so one byte too many is a segfault (AddressSanitizer
 * only sees the library's memcpy calls, not its own loads).
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim.h"

/* `len` bytes that end exactly where an inaccessible page begins. */
static void *before_guard_page(size_t len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK(len <= page);
    unsigned char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(area != MAP_FAILED);
    CHECK(mprotect(area + page, page, PROT_NONE) == 0);
    return area + page - len;
}

static sim_space_t *space, *readonly_space;
static sim_thread_t thread, other, readonly_thread;

/* Before ipcm_init and before any hooks: the manager exists on first use;
 * the kernel can use pipes, threads get BAD_PARAM. */
static void before_init_and_without_hooks(void) {
    CHECK(ipcm_pipe_lookup_by_id(1) == NULL);
    ipc_pipe_t *early = ipcm_pipe_create("early", 8, 2, 0);
    CHECK(early != NULL);
    size_t id = ipcm_pipe_id(early);
    unsigned char byte = 'e';
    CHECK_STATUS(ipcm_pipe_write(NULL, id, &byte, 1), IPCM_STATUS_OK);

    /* No hooks yet: a thread cannot be served. */
    CHECK_STATUS(ipcm_pipe_write(&thread, id, sim_va(0), 1), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_try_write(&thread, id, sim_va(0), 1), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_read(&thread, id, sim_va(0), sim_va(8)), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_try_read(&thread, id, sim_va(0), sim_va(8)), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_peek(&thread, id, sim_va(0), sim_va(8)), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_try_peek(&thread, id, sim_va(0), sim_va(8)), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_destroy(&thread, id), IPCM_STATUS_BAD_PARAM);
    ipc_pipe_t *out = (ipc_pipe_t *)&out;
    CHECK_STATUS(ipcm_pipe_create_as(&thread, "owned", 8, 1, 0, &out), IPCM_STATUS_BAD_PARAM);
    CHECK(out == NULL);

    /* Incomplete hooks are refused, and still nothing is installed. */
    CHECK_STATUS(ipcm_install_hooks(NULL), IPCM_STATUS_BAD_PARAM);
    ipcm_hooks_t partial = {NULL, sim_copy_from_user, sim_copy_to_user, NULL, sim_process_of, NULL};
    CHECK_STATUS(ipcm_install_hooks(&partial), IPCM_STATUS_BAD_PARAM);
    ipcm_hooks_t no_copy = {NULL, NULL, sim_copy_to_user, sim_wake, sim_process_of, NULL};
    CHECK_STATUS(ipcm_install_hooks(&no_copy), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_read(&thread, id, sim_va(0), sim_va(8)), IPCM_STATUS_BAD_PARAM);
    CHECK(sim_info(id).queued == 1); /* nothing consumed */

    /* ipcm_init after use, and twice: a no-op; nothing is lost. */
    ipcm_init();
    ipcm_init();
    CHECK(ipcm_pipe_lookup_by_name("early") == early);
    CHECK(sim_info(id).queued == 1);
    printf("before init, without hooks: ok\n");
}

static void bad_names(void) {
    /* NULL name: create makes an anonymous pipe; lookup finds nothing. */
    ipc_pipe_t *anonymous = ipcm_pipe_create(NULL, 8, 1, 0);
    CHECK(anonymous != NULL);
    size_t len = 99;
    char buf[80];
    CHECK_STATUS(ipcm_pipe_name(anonymous, buf, sizeof buf, &len), IPCM_STATUS_OK);
    CHECK(len == 0 && buf[0] == '\0');
    CHECK(ipcm_pipe_lookup_by_name(NULL) == NULL);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, ipcm_pipe_id(anonymous)), IPCM_STATUS_OK);

    /* Empty, over-long, non-UTF-8. */
    ipc_pipe_t *out;
    CHECK(ipcm_pipe_create("", 8, 1, 0) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, "", 8, 1, 0, &out), IPCM_STATUS_BAD_PARAM);
    char name64[65], name65[66];
    memset(name64, 'n', 64);
    name64[64] = '\0';
    memset(name65, 'n', 65);
    name65[65] = '\0';
    ipc_pipe_t *longest = ipcm_pipe_create(name64, 8, 1, 0);
    CHECK(longest != NULL);
    CHECK(ipcm_pipe_lookup_by_name(name64) == longest);
    CHECK(ipcm_pipe_create(name65, 8, 1, 0) == NULL);
    CHECK(ipcm_pipe_lookup_by_name(name65) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, name65, 8, 1, 0, &out), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_name(longest, buf, 64, &len), IPCM_STATUS_BAD_PARAM); /* no room for NUL */
    CHECK(len == 64);
    CHECK_STATUS(ipcm_pipe_name(longest, buf, 65, &len), IPCM_STATUS_OK);
    CHECK(strcmp(buf, name64) == 0);
    CHECK_STATUS(ipcm_pipe_name(longest, NULL, 65, &len), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, ipcm_pipe_id(longest)), IPCM_STATUS_OK);

    /* An unterminated name of 65 bytes before a guard page: the library
     * reads at most 65 bytes (a 66th would fault) and says BAD_PARAM. */
    char *unterminated = before_guard_page(65);
    memset(unterminated, 'u', 65);
    CHECK(ipcm_pipe_create(unterminated, 8, 1, 0) == NULL);
    CHECK(ipcm_pipe_lookup_by_name(unterminated) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, unterminated, 8, 1, 0, &out), IPCM_STATUS_BAD_PARAM);
    /* A 64-byte name whose NUL is the last byte before the guard page. */
    char *at_edge = before_guard_page(65);
    memset(at_edge, 'e', 64);
    at_edge[64] = '\0';
    ipc_pipe_t *edge = ipcm_pipe_create(at_edge, 8, 1, 0);
    CHECK(edge != NULL && ipcm_pipe_lookup_by_name(at_edge) == edge);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, ipcm_pipe_id(edge)), IPCM_STATUS_OK);

    char not_utf8[] = {(char)0xff, (char)0xfe, 'x', '\0'};
    CHECK(ipcm_pipe_create(not_utf8, 8, 1, 0) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, not_utf8, 8, 1, 0, &out), IPCM_STATUS_BAD_PARAM);
    CHECK(ipcm_pipe_lookup_by_name(not_utf8) == NULL);

    /* Duplicate names. */
    ipc_pipe_t *first = ipcm_pipe_create("dup", 8, 1, 0);
    CHECK(first != NULL);
    CHECK(ipcm_pipe_create("dup", 8, 1, 0) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, "dup", 8, 1, 0, &out), IPCM_STATUS_NAME_TAKEN);
    CHECK(out == NULL);
    CHECK(ipcm_pipe_lookup_by_name("dup") == first);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, ipcm_pipe_id(first)), IPCM_STATUS_OK);
    printf("bad names: ok\n");
}

static void bad_sizes_and_flags(void) {
    ipc_pipe_t *out;
    CHECK(ipcm_pipe_create("s", 0, 1, 0) == NULL);
    /* max_msgs 0 is a rendezvous pipe (DESIGN 9); with discard-oldest it
     * has nothing to drop. */
    CHECK(ipcm_pipe_create("s", 1, 0, IPCM_FLAG_DISCARD_OLDEST) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, "s", 0, 1, 0, &out), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, "s", 1, 0, IPCM_FLAG_DISCARD_OLDEST, &out),
                 IPCM_STATUS_BAD_PARAM);
    /* msg_size * max_msgs overflows. */
    CHECK(ipcm_pipe_create("s", SIZE_MAX, 2, 0) == NULL);
    CHECK(ipcm_pipe_create("s", SIZE_MAX / 2 + 1, 2, 0) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, "s", SIZE_MAX, SIZE_MAX, 0, &out), IPCM_STATUS_BAD_PARAM);
    /* Fits in size_t but not in memory. */
    int status = ipcm_pipe_create_as(NULL, "s", SIZE_MAX / 4, 1, 0, &out);
    CHECK(status == IPCM_STATUS_NO_MEMORY || status == IPCM_STATUS_BAD_PARAM);
    CHECK(out == NULL);
    CHECK(ipcm_pipe_create("s", (size_t)1 << 40, 1, 0) == NULL);
    /* Unknown flag bits. */
    CHECK(ipcm_pipe_create("s", 8, 1, 1u << 5) == NULL);
    CHECK(ipcm_pipe_create("s", 8, 1, SIZE_MAX) == NULL);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, "s", 8, 1, (size_t)1 << 40, &out), IPCM_STATUS_BAD_PARAM);
    /* None of these created anything. */
    CHECK(ipcm_pipe_lookup_by_name("s") == NULL);
    printf("bad sizes and flags: ok\n");
}

static void bad_ids_and_handles(size_t stale) {
    size_t ids[] = {0, 1, 12345, SIZE_MAX, SIZE_MAX / 2, stale};
    unsigned char buf[16];
    size_t len;
    ipcm_pipe_info_t info;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        size_t id = ids[i];
        CHECK(ipcm_pipe_lookup_by_id(id) == NULL);
        CHECK_STATUS(ipcm_pipe_write(NULL, id, buf, 1), IPCM_STATUS_NOT_FOUND);
        CHECK_STATUS(ipcm_pipe_read(NULL, id, buf, &len), IPCM_STATUS_NOT_FOUND);
        CHECK_STATUS(ipcm_pipe_peek(NULL, id, buf, &len), IPCM_STATUS_NOT_FOUND);
        CHECK_STATUS(ipcm_pipe_write(&thread, id, sim_va(0), 1), IPCM_STATUS_NOT_FOUND);
        CHECK_STATUS(ipcm_pipe_read(&thread, id, sim_va(0), sim_va(16)), IPCM_STATUS_NOT_FOUND);
        CHECK_STATUS(ipcm_pipe_try_peek(&thread, id, sim_va(0), sim_va(16)), IPCM_STATUS_NOT_FOUND);
        CHECK_STATUS(ipcm_pipe_destroy(NULL, id), IPCM_STATUS_NOT_FOUND);
        CHECK_STATUS(ipcm_pipe_info(id, &info), IPCM_STATUS_NOT_FOUND);
        /* A made-up handle is only a number: never dereferenced. */
        ipc_pipe_t *garbage = (ipc_pipe_t *)(uintptr_t)id;
        CHECK(ipcm_pipe_id(garbage) == id);
        CHECK_STATUS(ipcm_pipe_name(garbage, (char *)buf, sizeof buf, &len), IPCM_STATUS_NOT_FOUND);
    }
    CHECK(!ipcm_thread_is_pending(&thread));
    printf("bad ids and handles: ok\n");
}

static void bad_buffers_and_lengths(void) {
    ipc_pipe_t *pipe = ipcm_pipe_create("buffers", 16, 2, 0);
    size_t id = ipcm_pipe_id(pipe);
    unsigned char kbuf[16] = "kernel message";
    size_t len = 12345;

    /* Lengths up to SIZE_MAX: TOO_LARGE before any buffer is touched (the
     * kernel buffer here is 16 bytes before a guard page). */
    unsigned char *guarded = before_guard_page(16);
    memcpy(guarded, kbuf, 16);
    size_t lens[] = {17, 4096, SIZE_MAX / 2, SIZE_MAX - 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        CHECK_STATUS(ipcm_pipe_write(NULL, id, guarded, lens[i]), IPCM_STATUS_TOO_LARGE);
        CHECK_STATUS(ipcm_pipe_try_write(NULL, id, guarded, lens[i]), IPCM_STATUS_TOO_LARGE);
        CHECK_STATUS(ipcm_pipe_write(&thread, id, sim_va(0), lens[i]), IPCM_STATUS_TOO_LARGE);
        CHECK_STATUS(ipcm_pipe_try_write(&thread, id, sim_va(0), lens[i]), IPCM_STATUS_TOO_LARGE);
    }

    /* Kernel NULL buffers: BAD_PARAM. */
    CHECK_STATUS(ipcm_pipe_write(NULL, id, NULL, 1), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_write(NULL, id, NULL, 0), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_write(NULL, id, guarded, 15), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_read(NULL, id, NULL, &len), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_read(NULL, id, kbuf, NULL), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_peek(NULL, id, NULL, NULL), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_try_read(NULL, id, NULL, &len), IPCM_STATUS_BAD_PARAM);
    CHECK(len == 12345 && sim_info(id).queued == 1);

    /* Thread buffers: VA 0, unmapped, straddling the end, read-only. */
    void *bad_vas[] = {NULL, (void *)1, sim_va(SIM_SPACE_SIZE), sim_va(SIM_SPACE_SIZE - 4),
                       (void *)UINTPTR_MAX, (void *)(UINTPTR_MAX - 3)};
    for (size_t i = 0; i < sizeof bad_vas / sizeof bad_vas[0]; i++) {
        void *va = bad_vas[i];
        CHECK_STATUS(ipcm_pipe_write(&thread, id, va, 8), IPCM_STATUS_BAD_ADDRESS);
        CHECK_STATUS(ipcm_pipe_read(&thread, id, va, sim_va(64)), IPCM_STATUS_BAD_ADDRESS);
        CHECK_STATUS(ipcm_pipe_read(&thread, id, sim_va(0), (size_t *)va), IPCM_STATUS_BAD_ADDRESS);
        CHECK_STATUS(ipcm_pipe_peek(&thread, id, va, sim_va(64)), IPCM_STATUS_BAD_ADDRESS);
        CHECK_STATUS(ipcm_pipe_try_read(&thread, id, sim_va(0), (size_t *)va), IPCM_STATUS_BAD_ADDRESS);
    }
    /* Read-only destination (the message fits, the space is read-only). */
    CHECK_STATUS(ipcm_pipe_read(&readonly_thread, id, sim_va(0), sim_va(64)), IPCM_STATUS_BAD_ADDRESS);
    /* ... but reading *from* a read-only buffer is fine. */
    memcpy(sim_mem(&readonly_thread, 0x100), "from readonly", 14);
    CHECK_STATUS(ipcm_pipe_write(&readonly_thread, id, sim_va(0x100), 14), IPCM_STATUS_OK);

    /* Nothing was consumed by any failed read: both messages, in order. */
    ipcm_pipe_info_t info = sim_info(id);
    CHECK(info.queued == 2 && info.read == 0 && info.written == 2);
    CHECK_STATUS(ipcm_pipe_read(&thread, id, sim_va(0), sim_va(64)), IPCM_STATUS_OK);
    CHECK(memcmp(sim_mem(&thread, 0), "kernel message", 15) == 0 && sim_read_size(&thread, 64) == 15);
    /* The kernel's read buffer holds exactly msg_size bytes, up to a guard
     * page: the library writes no further. */
    unsigned char *out = before_guard_page(16);
    CHECK_STATUS(ipcm_pipe_read(NULL, id, out, &len), IPCM_STATUS_OK);
    CHECK(len == 14 && memcmp(out, "from readonly", 14) == 0);
    CHECK_STATUS(ipcm_pipe_try_read(NULL, id, out, &len), IPCM_STATUS_EMPTY);

    /* A zero-length message is a message. */
    CHECK_STATUS(ipcm_pipe_write(&thread, id, sim_va(0), 0), IPCM_STATUS_OK);
    len = 99;
    CHECK_STATUS(ipcm_pipe_read(NULL, id, out, &len), IPCM_STATUS_OK);
    CHECK(len == 0);

    /* A thread already waiting cannot start a second operation. */
    CHECK_STATUS(ipcm_pipe_read(&thread, id, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
    CHECK_STATUS(ipcm_pipe_read(&thread, id, sim_va(0), sim_va(64)), IPCM_STATUS_ALREADY_PENDING);
    CHECK_STATUS(ipcm_pipe_peek(&thread, id, sim_va(0), sim_va(64)), IPCM_STATUS_ALREADY_PENDING);
    ipc_pipe_t *full = ipcm_pipe_create("full", 1, 1, 0);
    CHECK_STATUS(ipcm_pipe_write(NULL, ipcm_pipe_id(full), kbuf, 1), IPCM_STATUS_OK);
    CHECK_STATUS(ipcm_pipe_write(&thread, ipcm_pipe_id(full), sim_va(0), 1), IPCM_STATUS_ALREADY_PENDING);
    CHECK(sim_info(id).pending_readers == 1 && sim_info(ipcm_pipe_id(full)).pending_writers == 0);

    /* Bad cancels. */
    CHECK_STATUS(ipcm_thread_cancel(&thread, IPCM_STATUS_OK), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_thread_cancel(&thread, 12345), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_thread_cancel(NULL, IPCM_STATUS_CANCELLED), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_thread_cancel(&other, IPCM_STATUS_CANCELLED), IPCM_STATUS_NOT_FOUND);
    CHECK(ipcm_thread_is_pending(&thread) && !ipcm_thread_is_pending(NULL));
    CHECK_STATUS(ipcm_thread_cancel(&thread, IPCM_STATUS_CANCELLED), IPCM_STATUS_OK);
    CHECK_STATUS(sim_wait(&thread), IPCM_STATUS_CANCELLED);

    /* Bad out-parameters. */
    CHECK_STATUS(ipcm_pipe_info(id, NULL), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_name(pipe, NULL, 0, NULL), IPCM_STATUS_BAD_PARAM);
    CHECK_STATUS(ipcm_pipe_create_as(NULL, "no-out", 8, 1, 0, NULL), IPCM_STATUS_OK);
    CHECK(ipcm_pipe_lookup_by_name("no-out") != NULL);
    CHECK(ipcm_pipe_id(NULL) == 0);

    /* Access control: another process may not destroy the kernel's pipe. */
    CHECK_STATUS(ipcm_pipe_destroy(&other, id), IPCM_STATUS_DENIED);
    CHECK(ipcm_pipe_lookup_by_id(id) == pipe);

    CHECK(strcmp(ipcm_status_name(IPCM_STATUS_FULL), "IPCM_STATUS_FULL") == 0);
    CHECK(strcmp(ipcm_status_name(IPCM_STATUS_INTERNAL), "IPCM_STATUS_INTERNAL") == 0);
    CHECK(strcmp(ipcm_status_name(99), "IPCM_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(ipcm_status_name(-2), "IPCM_STATUS_UNKNOWN") == 0);
    printf("bad buffers and lengths: ok\n");
}

int main(void) {
    /* Deliberately no ipcm_init() first. */
    space = sim_space_new(0);
    readonly_space = sim_space_new(SIM_SPACE_SIZE);
    sim_thread_init(&thread, "thread", 1, space);
    sim_thread_init(&other, "other", 2, space);
    sim_thread_init(&readonly_thread, "readonly", 3, readonly_space);

    before_init_and_without_hooks();
    sim_install();
    bad_names();
    bad_sizes_and_flags();

    ipc_pipe_t *doomed = ipcm_pipe_create("doomed", 8, 1, 0);
    size_t stale = ipcm_pipe_id(doomed);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, stale), IPCM_STATUS_OK);
    bad_ids_and_handles(stale);
    bad_buffers_and_lengths();
    printf("bad_input: ok\n");
    return 0;
}
