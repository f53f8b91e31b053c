/* copyscope: status codes and error messages.
 *
 * Every library function that can fail returns a cs_status. On failure it also
 * records a one-line, human-readable message (naming the file and the problem)
 * that cs_last_error() returns; the message is thread-local and stays valid
 * until the next failing call on the same thread. Library code never exits;
 * only the CLI maps a status to an exit code (cs_status_exit_code). */
#ifndef COPYSCOPE_STATUS_H
#define COPYSCOPE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_status {
    CS_OK = 0,
    /* ---- bad input or usage: the CLI exits with 2 ---- */
    CS_E_USAGE,        /* bad argument or option value */
    CS_E_NOTFOUND,     /* a named file or directory does not exist */
    CS_E_FORMAT,       /* a file exists but its content is invalid, corrupt or hostile */
    CS_E_TRUNCATED,    /* a file ends before its content does */
    CS_E_MISMATCH,     /* valid file, wrong content (another model, wrong dims, ...) */
    CS_E_UNSUPPORTED,  /* valid request that this build/machine cannot do */
    /* ---- runtime failure: the CLI exits with 1 ---- */
    CS_E_IO,           /* read/write failure of something that should work */
    CS_E_NOMEM,        /* allocation failed */
    CS_E_NUMERIC,      /* NaN/inf or a numerical method failed */
    CS_E_DEVICE,       /* accelerator failure (out of memory, device lost) */
    CS_E_INTERNAL,     /* broken invariant: a bug */
    CS_E_INTERRUPTED   /* stopped by a signal; partial results were saved */
} cs_status;

/* Short name of a status ("format", "io", ...). Never NULL. */
const char *cs_status_name(cs_status s);

/* 0 for CS_OK, 2 for bad input or usage, 1 for runtime failures. */
int cs_status_exit_code(cs_status s);

/* The message of the last failure on this thread ("" if none). */
const char *cs_last_error(void);

/* Source location (file:line) where the last failure was recorded, for debugging. */
const char *cs_last_error_location(void);

/* Record a failure: sets the thread-local message and returns s.
 * Use the CS_FAIL macro in library code so that file and line are kept. */
cs_status cs_error_set(cs_status s, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Clear the thread-local message. */
void cs_error_clear(void);

#define CS_FAIL(status, ...) cs_error_set((status), __FILE__, __LINE__, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
