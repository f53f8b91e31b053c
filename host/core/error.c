/* Status names, exit codes and the thread-local last-error message. */
#include "copyscope/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char tl_msg[1024];
static _Thread_local char tl_loc[256];

const char *cs_status_name(cs_status s) {
    switch (s) {
    case CS_OK: return "ok";
    case CS_E_USAGE: return "usage";
    case CS_E_NOTFOUND: return "not found";
    case CS_E_FORMAT: return "format";
    case CS_E_TRUNCATED: return "truncated";
    case CS_E_MISMATCH: return "mismatch";
    case CS_E_UNSUPPORTED: return "unsupported";
    case CS_E_IO: return "io";
    case CS_E_NOMEM: return "out of memory";
    case CS_E_NUMERIC: return "numeric";
    case CS_E_DEVICE: return "device";
    case CS_E_INTERNAL: return "internal";
    case CS_E_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}

int cs_status_exit_code(cs_status s) {
    switch (s) {
    case CS_OK: return 0;
    case CS_E_USAGE:
    case CS_E_NOTFOUND:
    case CS_E_FORMAT:
    case CS_E_TRUNCATED:
    case CS_E_MISMATCH:
    case CS_E_UNSUPPORTED: return 2;
    default: return 1;
    }
}

const char *cs_last_error(void) { return tl_msg; }
const char *cs_last_error_location(void) { return tl_loc; }

void cs_error_clear(void) {
    tl_msg[0] = '\0';
    tl_loc[0] = '\0';
}

cs_status cs_error_set(cs_status s, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    char tmp[sizeof tl_msg];
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap); /* fmt may reference tl_msg itself */
    va_end(ap);
    memcpy(tl_msg, tmp, sizeof tl_msg);
    /* one line: newlines in file names or library messages must not split it */
    for (char *p = tl_msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    const char *base = strrchr(file, '/');
    snprintf(tl_loc, sizeof tl_loc, "%s:%d", base ? base + 1 : file, line);
    return s;
}
