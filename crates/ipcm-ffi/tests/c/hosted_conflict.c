/*
 * The hosted runtime refuses a manager whose kernel installed its own
 * hooks: its wake could not tell the kernel's threads from its own.
 */
#include "sim.h"

int main(void) {
    sim_install();
    CHECK_STATUS(ipcm_host_init(), IPCM_STATUS_BAD_PARAM);
    /* Nothing changed: the kernel's hooks still serve its threads. */
    sim_space_t *space = sim_space_new(0);
    sim_thread_t t;
    sim_thread_init(&t, "t", 1, space);
    ipc_pipe_t *pipe = ipcm_pipe_create("p", 8, 1, 0);
    CHECK(pipe != NULL);
    memcpy(sim_mem(&t, 0), "hi", 2);
    CHECK_STATUS(ipcm_pipe_write(&t, ipcm_pipe_id(pipe), sim_va(0), 2), IPCM_STATUS_OK);
    CHECK(sim_stats.copies_in == 1);
    /* The hosted calls refuse to run on the kernel's hooks. */
    char buf[8];
    CHECK_STATUS(ipcm_host_read(ipcm_pipe_id(pipe), buf, sizeof buf, NULL, 0),
                 IPCM_STATUS_BAD_PARAM);
    CHECK(sim_info(ipcm_pipe_id(pipe)).queued == 1);
    free(space);
    puts("hosted_conflict: ok");
    return 0;
}
