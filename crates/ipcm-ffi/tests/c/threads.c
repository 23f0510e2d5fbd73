/*
 * Writers and readers on several pthreads (several CPUs) share one pipe:
 * every message arrives exactly once (the multiset is conserved) and each
 * reader sees each writer's messages in the order they were written.
 *
 * Four user writers (each its own process and address space) block when
 * the pipe is full; one kernel writer (thread_t NULL) never blocks and
 * retries on FULL; three readers block when it is empty. When everything
 * has arrived, destroying the pipe wakes the readers with DESTROYED.
 */
#include <sched.h>
#include <stdatomic.h>

#include "sim.h"

enum { USER_WRITERS = 4, WRITERS = USER_WRITERS + 1, READERS = 3, PER_WRITER = 1500 };
enum { TOTAL = WRITERS * PER_WRITER };

typedef struct message {
    uint32_t writer;
    uint32_t seq;
    uint64_t check; /* writer * 1000003 + seq: detects torn messages */
} message_t;

static size_t pipe_id;
static atomic_size_t received;
static sim_thread_t writers[USER_WRITERS], readers[READERS];

typedef struct reader_log {
    size_t count;
    message_t messages[TOTAL];
} reader_log_t;
static reader_log_t logs[READERS];

static message_t make(uint32_t writer, uint32_t seq) {
    message_t m = {writer, seq, (uint64_t)writer * 1000003u + seq};
    return m;
}

static void *user_writer(void *arg) {
    sim_thread_t *self = arg;
    uint32_t index = (uint32_t)(self - writers);
    for (uint32_t seq = 0; seq < PER_WRITER; seq++) {
        message_t m = make(index, seq);
        memcpy(sim_mem(self, 0), &m, sizeof m);
        int status = sim_finish(self, ipcm_pipe_write(self, pipe_id, sim_va(0), sizeof m));
        CHECK_STATUS(status, IPCM_STATUS_OK);
    }
    return NULL;
}

static void *kernel_writer(void *arg) {
    (void)arg;
    for (uint32_t seq = 0; seq < PER_WRITER; seq++) {
        message_t m = make(USER_WRITERS, seq);
        int status;
        while ((status = ipcm_pipe_write(NULL, pipe_id, &m, sizeof m)) == IPCM_STATUS_FULL) {
            sched_yield();
        }
        CHECK_STATUS(status, IPCM_STATUS_OK);
    }
    return NULL;
}

static void *reader(void *arg) {
    sim_thread_t *self = arg;
    reader_log_t *log = &logs[self - readers];
    for (;;) {
        int status = sim_finish(self, ipcm_pipe_read(self, pipe_id, sim_va(0), sim_va(64)));
        if (status == IPCM_STATUS_DESTROYED || status == IPCM_STATUS_NOT_FOUND) break;
        CHECK_STATUS(status, IPCM_STATUS_OK);
        CHECK(sim_read_size(self, 64) == sizeof(message_t));
        CHECK(log->count < TOTAL);
        memcpy(&log->messages[log->count++], sim_mem(self, 0), sizeof(message_t));
        atomic_fetch_add(&received, 1);
    }
    return NULL;
}

/* ---- a cancel racing a completion: exactly one outcome ----------------- */

enum { RACES = 2000 };
static sim_thread_t victim;
static size_t race_pipe;
static atomic_int race_go;
static uint32_t race_round;
static int cancel_status;

static void *race_write(void *arg) {
    (void)arg;
    while (!atomic_load(&race_go)) {
    }
    uint32_t round = race_round;
    CHECK_STATUS(ipcm_pipe_write(NULL, race_pipe, &round, sizeof round), IPCM_STATUS_OK);
    return NULL;
}

static void *race_cancel(void *arg) {
    (void)arg;
    while (!atomic_load(&race_go)) {
    }
    cancel_status = ipcm_thread_cancel(&victim, IPCM_STATUS_TIMED_OUT);
    return NULL;
}

/* A reader is pending; one pthread writes while another cancels it. Either
 * the read completed (the cancel says NOT_FOUND) or it was cancelled (the
 * message stays queued): never both, never neither, one wake. */
static void cancel_races_completion(void) {
    sim_thread_init(&victim, "victim", 50, sim_space_new(0));
    ipc_pipe_t *pipe = ipcm_pipe_create("race", sizeof(uint32_t), 1, 0);
    CHECK(pipe != NULL);
    race_pipe = ipcm_pipe_id(pipe);
    unsigned completed = 0, cancelled = 0;
    for (uint32_t round = 0; round < RACES; round++) {
        race_round = round;
        atomic_store(&race_go, 0);
        CHECK_STATUS(ipcm_pipe_read(&victim, race_pipe, sim_va(0), sim_va(64)), IPCM_STATUS_BLOCKED);
        pthread_t writer_thread, canceller_thread;
        CHECK(pthread_create(&writer_thread, NULL, race_write, NULL) == 0);
        CHECK(pthread_create(&canceller_thread, NULL, race_cancel, NULL) == 0);
        atomic_store(&race_go, 1);
        CHECK(pthread_join(writer_thread, NULL) == 0);
        CHECK(pthread_join(canceller_thread, NULL) == 0);

        int outcome = sim_wait(&victim);
        CHECK(victim.wakes == victim.consumed); /* exactly one wake */
        CHECK(!ipcm_thread_is_pending(&victim));
        uint32_t got;
        if (outcome == IPCM_STATUS_OK) {
            CHECK_STATUS(cancel_status, IPCM_STATUS_NOT_FOUND);
            memcpy(&got, sim_mem(&victim, 0), sizeof got);
            CHECK(sim_info(race_pipe).queued == 0);
            completed++;
        } else {
            CHECK_STATUS(outcome, IPCM_STATUS_TIMED_OUT);
            CHECK_STATUS(cancel_status, IPCM_STATUS_OK);
            size_t len;
            CHECK_STATUS(ipcm_pipe_read(NULL, race_pipe, &got, &len), IPCM_STATUS_OK);
            cancelled++;
        }
        CHECK(got == round);
    }
    CHECK_STATUS(ipcm_pipe_destroy(NULL, race_pipe), IPCM_STATUS_OK);
    printf("cancel vs completion: %u completed, %u cancelled, one outcome each\n", completed,
           cancelled);
}

int main(void) {
    ipcm_init();
    sim_install();
    cancel_races_completion();
    ipc_pipe_t *pipe = ipcm_pipe_create("threads", sizeof(message_t), 8, 0);
    CHECK(pipe != NULL);
    pipe_id = ipcm_pipe_id(pipe);

    pthread_t writer_threads[WRITERS], reader_threads[READERS];
    for (int i = 0; i < READERS; i++) {
        sim_thread_init(&readers[i], "reader", 100, sim_space_new(0));
        CHECK(pthread_create(&reader_threads[i], NULL, reader, &readers[i]) == 0);
    }
    for (int i = 0; i < USER_WRITERS; i++) {
        sim_thread_init(&writers[i], "writer", 1 + (uint64_t)i, sim_space_new(0));
        CHECK(pthread_create(&writer_threads[i], NULL, user_writer, &writers[i]) == 0);
    }
    CHECK(pthread_create(&writer_threads[USER_WRITERS], NULL, kernel_writer, NULL) == 0);
    for (int i = 0; i < WRITERS; i++) CHECK(pthread_join(writer_threads[i], NULL) == 0);

    /* Every message written is read: wait for the readers to take them. */
    while (atomic_load(&received) < TOTAL) sched_yield();
    ipcm_pipe_info_t info = sim_info(pipe_id);
    CHECK(info.written == TOTAL && info.read == TOTAL && info.queued == 0 && info.dropped == 0);
    CHECK_STATUS(ipcm_pipe_destroy(NULL, pipe_id), IPCM_STATUS_OK);
    for (int i = 0; i < READERS; i++) CHECK(pthread_join(reader_threads[i], NULL) == 0);

    /* Conservation: each (writer, seq) exactly once, none torn. */
    static unsigned char seen[WRITERS][PER_WRITER];
    size_t total = 0;
    for (int r = 0; r < READERS; r++) {
        int64_t last[WRITERS];
        for (int w = 0; w < WRITERS; w++) last[w] = -1;
        for (size_t i = 0; i < logs[r].count; i++) {
            message_t m = logs[r].messages[i];
            CHECK(m.writer < WRITERS && m.seq < PER_WRITER);
            CHECK(m.check == (uint64_t)m.writer * 1000003u + m.seq);
            CHECK(seen[m.writer][m.seq] == 0);
            seen[m.writer][m.seq] = 1;
            /* Per-writer order, as this reader saw it. */
            CHECK((int64_t)m.seq > last[m.writer]);
            last[m.writer] = m.seq;
        }
        total += logs[r].count;
        printf("reader %d: %zu messages\n", r, logs[r].count);
    }
    CHECK(total == TOTAL);
    for (int w = 0; w < WRITERS; w++)
        for (int s = 0; s < PER_WRITER; s++) CHECK(seen[w][s] == 1);
    for (int i = 0; i < USER_WRITERS; i++) CHECK(writers[i].wakes == writers[i].consumed);
    for (int i = 0; i < READERS; i++) CHECK(readers[i].wakes == readers[i].consumed);
    printf("%d messages from %d writers on %d readers: conserved, per-writer order kept "
           "(%lu wakes)\n", TOTAL, WRITERS, READERS, sim_stats.wakes);
    printf("threads: ok\n");
    return 0;
}
