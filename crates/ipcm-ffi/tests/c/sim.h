/*
 * sim.h: a simulated kernel for the C tests of the IPC manager.
 *
 * Simulated threads belong to processes; each process has a small address
 * space (an array). Virtual addresses run from SIM_BASE to SIM_BASE + size;
 * anything else, VA 0 included, is unmapped. The first `readonly` bytes of
 * a space are read-only. The hooks validate every address, so a bad VA is a
 * fault (IPCM_STATUS_BAD_ADDRESS), never a crash.
 *
 * The kernel's own thread type is sim_thread_t: the header is told so with
 * IPCM_KERNEL_THREAD_T, as a kernel with its own thread_t would.
 *
 * A blocked thread waits on its condition variable until the wake hook
 * posts its status, as a real kernel parks a thread until it is runnable.
 */
#ifndef SIM_H
#define SIM_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_BASE ((uintptr_t)0x10000)
#define SIM_SPACE_SIZE 4096

typedef struct sim_space {
    unsigned char bytes[SIM_SPACE_SIZE];
    size_t readonly; /* bytes [0, readonly) are read-only */
} sim_space_t;

typedef struct sim_thread {
    const char *name;
    uint64_t process;
    uint8_t priority;
    sim_space_t *space;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned wakes;     /* wake hook calls for this thread */
    unsigned consumed;  /* wakes already taken by sim_wait */
    int status;         /* status of the last wake */
} sim_thread_t;

#define IPCM_KERNEL_THREAD_T
typedef sim_thread_t thread_t;
#include "ipcm.h"

/* ---- checks ---------------------------------------------------------- */

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

/* ---- threads and address spaces --------------------------------------- */

static inline sim_space_t *sim_space_new(size_t readonly) {
    sim_space_t *space = calloc(1, sizeof *space);
    CHECK(space != NULL);
    space->readonly = readonly;
    return space;
}

static inline void sim_thread_init(sim_thread_t *t, const char *name, uint64_t process,
                            sim_space_t *space) {
    memset(t, 0, sizeof *t);
    t->name = name;
    t->process = process;
    t->space = space;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
}

/* The VA of byte `offset` of a thread's address space. */
static inline void *sim_va(size_t offset) { return (void *)(SIM_BASE + offset); }

/* Direct access to a thread's memory (the test looking into the simulated
 * address space, as a debugger would). */
static inline unsigned char *sim_mem(sim_thread_t *t, size_t offset) {
    CHECK(offset < SIM_SPACE_SIZE);
    return &t->space->bytes[offset];
}

static inline size_t sim_read_size(sim_thread_t *t, size_t offset) {
    size_t value;
    memcpy(&value, sim_mem(t, offset), sizeof value);
    return value;
}

/* Wait until the thread's pending operation is woken; its status. */
static inline int sim_wait(sim_thread_t *t) {
    pthread_mutex_lock(&t->lock);
    while (t->consumed == t->wakes) {
        pthread_cond_wait(&t->cond, &t->lock);
    }
    t->consumed++;
    int status = t->status;
    pthread_mutex_unlock(&t->lock);
    return status;
}

/* Whether a wake is waiting to be taken, without blocking. */
static inline int sim_was_woken(sim_thread_t *t) {
    pthread_mutex_lock(&t->lock);
    int woken = t->consumed != t->wakes;
    pthread_mutex_unlock(&t->lock);
    return woken;
}

/* A syscall as a kernel would run it: a BLOCKED thread is parked until its
 * wake, and the syscall returns the wake's status. */
static inline int sim_finish(sim_thread_t *t, int status) {
    return status == IPCM_STATUS_BLOCKED ? sim_wait(t) : status;
}

/* ---- the hooks --------------------------------------------------------- */

typedef struct sim_stats {
    pthread_mutex_t lock;
    unsigned long copies_in, copies_out, faults, wakes;
} sim_stats_t;

static sim_stats_t sim_stats = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};

static inline int sim_offset(void *va, size_t len, size_t *offset) {
    uintptr_t addr = (uintptr_t)va;
    if (addr < SIM_BASE) return -1;
    uintptr_t off = addr - SIM_BASE;
    if (off > SIM_SPACE_SIZE || len > SIM_SPACE_SIZE - off) return -1;
    *offset = off;
    return 0;
}

static inline void sim_count(unsigned long *counter) {
    pthread_mutex_lock(&sim_stats.lock);
    (*counter)++;
    pthread_mutex_unlock(&sim_stats.lock);
}

static inline int sim_copy_from_user(void *ctx, thread_t *t, void *va, void *dst, size_t len) {
    (void)ctx;
    size_t off;
    if (sim_offset(va, len, &off) != 0) {
        sim_count(&sim_stats.faults);
        return 1;
    }
    memcpy(dst, &t->space->bytes[off], len);
    sim_count(&sim_stats.copies_in);
    return 0;
}

static inline int sim_copy_to_user(void *ctx, thread_t *t, void *va, const void *src, size_t len) {
    (void)ctx;
    size_t off;
    if (sim_offset(va, len, &off) != 0 || (len > 0 && off < t->space->readonly)) {
        sim_count(&sim_stats.faults);
        return 1;
    }
    memcpy(&t->space->bytes[off], src, len);
    sim_count(&sim_stats.copies_out);
    return 0;
}

static inline void sim_wake(void *ctx, thread_t *t, int status) {
    (void)ctx;
    pthread_mutex_lock(&t->lock);
    t->wakes++;
    t->status = status;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    sim_count(&sim_stats.wakes);
}

static inline uint64_t sim_process_of(void *ctx, thread_t *t) {
    (void)ctx;
    return t->process;
}

static inline uint8_t sim_priority_of(void *ctx, thread_t *t) {
    (void)ctx;
    return t->priority;
}

static inline void sim_install(void) {
    ipcm_hooks_t hooks = {
        .ctx = NULL,
        .copy_from_user = sim_copy_from_user,
        .copy_to_user = sim_copy_to_user,
        .wake = sim_wake,
        .process_of = sim_process_of,
        .priority_of = sim_priority_of,
    };
    CHECK_STATUS(ipcm_install_hooks(&hooks), IPCM_STATUS_OK);
}

static inline ipcm_pipe_info_t sim_info(size_t id) {
    ipcm_pipe_info_t info;
    CHECK_STATUS(ipcm_pipe_info(id, &info), IPCM_STATUS_OK);
    return info;
}

#endif
