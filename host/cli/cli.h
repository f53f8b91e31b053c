/* CLI internals: each subcommand lives in host/cli/cmd_<name>.c and exports
 *   int cs_cmd_<name>(int argc, char **argv);   (argv[0] is the subcommand name)
 * returning the process exit code: 0 success, 1 runtime failure, 2 bad input or usage. */
#ifndef CS_CLI_H
#define CS_CLI_H

#include "copyscope/status.h"

#include <stdio.h>

#define CS_EXIT_OK 0
#define CS_EXIT_RUNTIME 1
#define CS_EXIT_USAGE 2

/* Text appended to every subcommand's --help. */
#define CS_HELP_EXIT_CODES                                                                         \
    "Exit status: 0 success; 1 runtime failure (I/O, memory, numerics, device);\n"                \
    "             2 bad input or usage (missing/corrupt/truncated file, bad option).\n"

/* Print "copyscope <cmd>: <last error>" on stderr and return the exit code of st. */
int cs_cli_fail(const char *cmd, cs_status st);

/* Print a usage error ("copyscope <cmd>: <msg>; see 'copyscope <cmd> --help'") and return 2. */
int cs_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parse helpers: return 0 and print a usage error on failure. */
int cs_cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);
int cs_cli_parse_double(const char *cmd, const char *opt, const char *text, double *out);

/* True when stderr is a terminal (progress display is allowed). */
int cs_cli_stderr_is_tty(void);

#endif
