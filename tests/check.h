/* Shared by the C test programs: CHECK(cond, fmt, ...) records a failure with file and line and
 * goes on, so that one run reports every failing check; main returns failures != 0. */
#ifndef CS_TEST_CHECK_H
#define CS_TEST_CHECK_H

#include <stdio.h>

static int failures = 0;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#endif
