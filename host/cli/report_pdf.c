/* `copyscope audit --pdf`: report.pdf from report.html through headless Chromium's print. */
#include "report_pdf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CS_PDF_TIMEOUT_S 120

/* The browser: $COPYSCOPE_CHROMIUM, else the first of chromium, chromium-browser, google-chrome,
 * google-chrome-stable on PATH. Returns 1 and the path in buf. */
static int cs_pdf_find_browser(char *buf, size_t cap) {
    const char *env = getenv("COPYSCOPE_CHROMIUM");
    if (env && env[0]) {
        snprintf(buf, cap, "%s", env);
        return access(buf, X_OK) == 0;
    }
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"};
    const char *path = getenv("PATH");
    if (!path) return 0;
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        const char *p = path;
        while (*p) {
            const char *e = strchr(p, ':');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len > 0 && len < cap - 64) {
                snprintf(buf, cap, "%.*s/%s", (int)len, p, names[n]);
                struct stat sb;
                if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode) && access(buf, X_OK) == 0) return 1;
            }
            if (!e) break;
            p = e + 1;
        }
    }
    return 0;
}

/* file:// URL of an absolute path, unreserved characters and '/' kept, the rest percent-encoded. */
static char *cs_pdf_file_url(const char *abs) {
    char *u = malloc(strlen(abs) * 3 + 8), *o = u;
    if (!u) return NULL;
    o += sprintf(o, "file://");
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
            *o++ = (char)*p;
        else
            o += sprintf(o, "%%%02X", *p);
    }
    *o = '\0';
    return u;
}

static int cs_pdf_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

int cs_report_pdf(const char *cmd, const char *dir, int quiet) {
    char browser[PATH_MAX];
    if (!cs_pdf_find_browser(browser, sizeof browser)) {
        fprintf(stderr, "copyscope %s: --pdf: no Chromium found (chromium, chromium-browser, google-chrome on PATH, "
                "or $COPYSCOPE_CHROMIUM); report.pdf not written, the other reports are complete\n", cmd);
        return 0;
    }
    char absdir[PATH_MAX];
    if (!realpath(dir, absdir)) {
        fprintf(stderr, "copyscope %s: --pdf: %s: %s\n", cmd, dir, strerror(errno));
        return 1;
    }
    char html[PATH_MAX + 32], tmp[PATH_MAX + 64], out[PATH_MAX + 32], profile[] = "/tmp/copyscope-pdf-XXXXXX";
    snprintf(html, sizeof html, "%s/report.html", absdir);
    snprintf(tmp, sizeof tmp, "%s/.report.pdf.tmp.%ld", absdir, (long)getpid());
    snprintf(out, sizeof out, "%s/report.pdf", absdir);
    char *url = cs_pdf_file_url(html), *print_arg = NULL, *profile_arg = NULL;
    if (!url || !mkdtemp(profile) || asprintf(&print_arg, "--print-to-pdf=%s", tmp) < 0 ||
        asprintf(&profile_arg, "--user-data-dir=%s", profile) < 0) {
        fprintf(stderr, "copyscope %s: --pdf: cannot prepare the browser's run: %s\n", cmd, strerror(errno));
        free(url);
        return 1;
    }
    char *argv[16];
    int na = 0;
    argv[na++] = browser;
    argv[na++] = "--headless";
    if (geteuid() == 0) argv[na++] = "--no-sandbox"; /* Chromium refuses to run as root with its sandbox */
    argv[na++] = "--disable-gpu";
    argv[na++] = "--no-first-run";
    argv[na++] = "--no-pdf-header-footer";
    argv[na++] = profile_arg;
    argv[na++] = print_arg;
    argv[na++] = url;
    argv[na] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, browser, &fa, NULL, argv, environ), status = 0, ok = 0;
    posix_spawn_file_actions_destroy(&fa);
    if (rc == 0) {
        time_t t0 = time(NULL);
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) break;
            if (w < 0 && errno != EINTR) break;
            if (time(NULL) - t0 > CS_PDF_TIMEOUT_S) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                fprintf(stderr, "copyscope %s: --pdf: %s did not finish within %d s\n", cmd, browser, CS_PDF_TIMEOUT_S);
                break;
            }
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        char head[5] = {0};
        FILE *f = fopen(tmp, "rb");
        if (f) {
            ok = fread(head, 1, 4, f) == 4 && memcmp(head, "%PDF", 4) == 0;
            fclose(f);
        }
        if (ok && rename(tmp, out) != 0) ok = 0;
        if (!ok) {
            unlink(tmp);
            fprintf(stderr, "copyscope %s: --pdf: %s did not print the report (exit status %d); report.pdf not "
                    "written\n", cmd, browser, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
    } else {
        fprintf(stderr, "copyscope %s: --pdf: cannot start %s: %s\n", cmd, browser, strerror(rc));
    }
    nftw(profile, cs_pdf_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(url), free(print_arg), free(profile_arg);
    if (ok && !quiet) fprintf(stderr, "copyscope %s: report.pdf written (%s)\n", cmd, browser);
    return ok ? 0 : 1;
}
