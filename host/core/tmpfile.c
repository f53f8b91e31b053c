/* Temporary files removed when a signal ends the process (see tmpfile.h). */
#include "core/tmpfile.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Slot states: free, being filled (not yet visible to the handler), tracked. */
enum { SLOT_FREE = 0, SLOT_FILLING = 1, SLOT_TRACKED = 2 };
static _Atomic int cs_tmp_state[CS_TMP_SLOTS];
static char cs_tmp_path[CS_TMP_SLOTS][CS_TMP_PATH_MAX];

int cs_tmp_track(const char *path) {
    size_t len = strlen(path);
    if (len >= CS_TMP_PATH_MAX) return -1;
    for (int i = 0; i < CS_TMP_SLOTS; i++) {
        int expect = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&cs_tmp_state[i], &expect, SLOT_FILLING)) continue;
        memcpy(cs_tmp_path[i], path, len + 1);
        atomic_store(&cs_tmp_state[i], SLOT_TRACKED); /* the path is complete before it is visible */
        return i;
    }
    return -1;
}

void cs_tmp_untrack(int slot) {
    if (slot >= 0 && slot < CS_TMP_SLOTS) atomic_store(&cs_tmp_state[slot], SLOT_FREE);
}

void cs_tmp_unlink_all(void) {
    for (int i = 0; i < CS_TMP_SLOTS; i++)
        if (atomic_load(&cs_tmp_state[i]) == SLOT_TRACKED) unlink(cs_tmp_path[i]);
}

static void cs_tmp_on_signal(int sig) {
    cs_tmp_unlink_all();
    signal(sig, SIG_DFL); /* then die of it, as without the handler (exit status 128 + sig) */
    raise(sig);
}

void cs_tmp_install_signal_cleanup(void) {
    static _Atomic int installed;
    if (atomic_exchange(&installed, 1)) return;
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction sa, old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue; /* nohup: keep */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = cs_tmp_on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
}
