/* Two POSIX threads and a pipe: no kernel, no hooks (feature `hosted`). */
#include <pthread.h>
#include <stdio.h>
#include "ipcm.h"

static size_t id; /* a pipe of up to 2 messages of up to 32 bytes */

static void *producer(void *arg) {
    for (int i = 1; i <= 3; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "hello %d", i);
        /* The seed's write, for this OS thread: a full pipe blocks it. */
        int status = ipcm_pipe_write(ipcm_host_thread(), id, msg, (size_t)len);
        ipcm_host_finish(status, IPCM_HOST_FOREVER);
    }
    return arg;
}

int main(void) {
    ipcm_host_init();
    id = ipcm_pipe_id(ipcm_pipe_create("greetings", 32, 2, 0));
    pthread_t thread;
    pthread_create(&thread, NULL, producer, NULL);
    char buf[32];
    size_t len;
    for (int i = 0; i < 3; i++) { /* each read waits for a message */
        ipcm_host_read(id, buf, sizeof buf, &len, IPCM_HOST_FOREVER);
        printf("%.*s\n", (int)len, buf);
    }
    pthread_join(thread, NULL);
    /* Nothing more comes: after 1 ms the read is cancelled. */
    printf("%s\n", ipcm_status_name(ipcm_host_read(id, buf, sizeof buf, &len, 1000000)));
    return 0;
}
