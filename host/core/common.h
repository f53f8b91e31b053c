/* Internal helpers shared by the host modules (not part of the public API). */
#ifndef CS_COMMON_H
#define CS_COMMON_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Propagate a failing status (the callee already recorded the message). */
#define CS_TRY(expr)                                                                               \
    do {                                                                                           \
        cs_status cs_try_st_ = (expr);                                                             \
        if (cs_try_st_ != CS_OK) return cs_try_st_;                                                \
    } while (0)

/* Same, but jump to a cleanup label with `st` set. */
#define CS_TRY_GOTO(st, expr, label)                                                               \
    do {                                                                                           \
        (st) = (expr);                                                                             \
        if ((st) != CS_OK) goto label;                                                             \
    } while (0)

/* Broken invariant: always on (also in release builds); aborts with the location. */
#define CS_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "copyscope: internal error: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Overflow-checked size arithmetic: returns 0 on overflow. */
static inline int cs_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* malloc that records CS_E_NOMEM on failure (returns NULL). what names the buffer. */
void *cs_malloc(size_t n, const char *what);
void *cs_calloc(size_t count, size_t size, const char *what);

/* Whether path (symbolic links followed) is a regular file, from stat without opening it:
 * CS_E_NOTFOUND (missing, dangling link), CS_E_FORMAT naming what it is otherwise (directory,
 * FIFO, character/block device, socket, symbolic link loop). Every reader of a named file calls it
 * first, since opening a FIFO blocks and /dev/zero never ends. */
cs_status cs_check_regular_file(const char *path);

/* Read a whole regular file (bounded by max_bytes) into a new buffer; *len gets its size. */
cs_status cs_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len);

/* Monotonic seconds. */
double cs_now(void);

#endif
