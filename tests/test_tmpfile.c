/* Temporary files removed when a signal ends the process (host/core/tmpfile.h), issue 20:
 *   1. a child tracks file A, leaves file B untracked, installs the cleanup and gets SIGTERM:
 *      it dies of SIGTERM (as without the handler), A is gone, B is still there;
 *   2. the same with SIGINT, after A was untracked (renamed into place, say): A stays;
 *   3. a signal ignored before the install (nohup) stays ignored: the child lives on;
 *   4. the table: CS_TMP_SLOTS tracks, then -1; untrack frees a slot; a too-long path is -1.
 * usage: test_tmpfile WORKDIR */
#include "check.h"
#include "core/tmpfile.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void touch(const char *p) {
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

/* Child: track a (unless untrack_first), not b; install; raise sig. Returns the wait status. */
static int child_run(const char *a, const char *b, int sig, int untrack_first, int ignore_first) {
    pid_t pid = fork();
    if (pid == 0) {
        touch(a);
        touch(b);
        int slot = cs_tmp_track(a);
        if (untrack_first) cs_tmp_untrack(slot);
        if (ignore_first) signal(sig, SIG_IGN);
        cs_tmp_install_signal_cleanup();
        raise(sig);
        _exit(0); /* only reached when the signal is ignored */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/out.h5.tmp-1", argv[1]);
    snprintf(b, sizeof b, "%s/unrelated.h5", argv[1]);
    mkdir(argv[1], 0777);

    int st = child_run(a, b, SIGTERM, 0, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "child did not die of SIGTERM (status 0x%x)", st);
    CHECK(!exists(a), "tracked temporary file left behind after SIGTERM");
    CHECK(exists(b), "an untracked file was removed");
    printf("ok SIGTERM: tracked file unlinked, untracked kept, the process died of the signal\n");

    unlink(a);
    st = child_run(a, b, SIGINT, 1, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "child did not die of SIGINT (status 0x%x)", st);
    CHECK(exists(a), "an untracked (already published) file was removed");
    printf("ok SIGINT after untrack: the file stays\n");

    unlink(a);
    st = child_run(a, b, SIGHUP, 0, 1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "an ignored SIGHUP was not left ignored (status 0x%x)", st);
    CHECK(exists(a), "the file was removed although the signal was ignored");
    printf("ok SIGHUP ignored before the install stays ignored\n");

    int slots[CS_TMP_SLOTS];
    for (int i = 0; i < CS_TMP_SLOTS; i++) {
        slots[i] = cs_tmp_track(a);
        CHECK(slots[i] >= 0, "slot %d refused", i);
    }
    CHECK(cs_tmp_track(a) == -1, "a full table accepted another file");
    cs_tmp_untrack(slots[7]);
    CHECK(cs_tmp_track(a) == slots[7], "a freed slot was not reused");
    cs_tmp_untrack(-1); /* ignored */
    char *lng = malloc(CS_TMP_PATH_MAX + 1);
    memset(lng, 'x', CS_TMP_PATH_MAX);
    lng[CS_TMP_PATH_MAX] = '\0';
    CHECK(cs_tmp_track(lng) == -1, "a path longer than CS_TMP_PATH_MAX was tracked");
    free(lng);
    printf("ok table: %d slots, reuse, too-long paths refused\n", CS_TMP_SLOTS);
    unlink(a);
    unlink(b);
    printf(failures ? "FAILED: %d check(s)\n" : "PASS\n", failures);
    return failures != 0;
}
