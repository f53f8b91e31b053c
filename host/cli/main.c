/* copyscope: command-line entry point and subcommand dispatch.
 *
 * Subcommands are defined in host/cli/cmd_<name>.c. They are declared weak here
 * so that the table lists exactly the commands that this build contains. */
#include "cli.h"
#include "core/tmpfile.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*cs_cmd_fn)(int argc, char **argv);

#define CS_DECLARE_CMD(name) int cs_cmd_##name(int argc, char **argv) __attribute__((weak));
CS_DECLARE_CMD(weights)
CS_DECLARE_CMD(features)
CS_DECLARE_CMD(fid)
CS_DECLARE_CMD(cmmd)
CS_DECLARE_CMD(stats)
CS_DECLARE_CMD(merge)
CS_DECLARE_CMD(shapley)
CS_DECLARE_CMD(plan)
CS_DECLARE_CMD(audit)
CS_DECLARE_CMD(metrics)
CS_DECLARE_CMD(isc)
CS_DECLARE_CMD(demo)
CS_DECLARE_CMD(slurm)

static const struct {
    const char *name;
    const char *summary;
} cs_cmd_help[] = {
    {"weights", "inspect and verify an FID Inception weights file"},
    {"features", "extract Inception pool features of images into an HDF5 file"},
    {"fid", "Frechet Inception Distance between two image sets or stats files"},
    {"cmmd", "CMMD (Gaussian-kernel MMD of L2-normalised features) between two sets"},
    {"stats", "save the mean/covariance statistics of image sets (.npz or .h5)"},
    {"merge", "merge partial statistics or feature files exactly"},
    {"shapley", "Shapley attribution from a table of coalition FIDs or utilities"},
    {"plan", "list the coalitions to generate for an attribution estimator"},
    {"audit", "full audit: images -> features -> FIDs -> attribution -> report"},
    {"metrics", "pixel and set similarity metrics between reference and generated images"},
    {"isc", "Inception Score of an image set (torch-fidelity's)"},
    {"demo", "generate a synthetic audit and run it end to end"},
    {"slurm", "run a sharded audit as a Slurm job array; status and resume"},
};

static cs_cmd_fn cs_cmd_lookup(const char *name) {
#define CS_MATCH(n)                                                                                \
    if (strcmp(name, #n) == 0) return cs_cmd_##n;
    CS_MATCH(weights)
    CS_MATCH(features)
    CS_MATCH(fid)
    CS_MATCH(cmmd)
    CS_MATCH(stats)
    CS_MATCH(merge)
    CS_MATCH(shapley)
    CS_MATCH(plan)
    CS_MATCH(audit)
    CS_MATCH(metrics)
    CS_MATCH(isc)
    CS_MATCH(demo)
    CS_MATCH(slurm)
#undef CS_MATCH
    return NULL;
}

static void cs_print_help(FILE *out) {
    fprintf(out,
            "copyscope %s - which component of a diffusion pipeline brings its images close to a\n"
            "reference artwork, and by how much (FID + Shapley attribution, CopyScope method).\n\n"
            "Usage: copyscope <command> [options]   (copyscope <command> --help for details)\n\n"
            "Commands:\n",
            COPYSCOPE_VERSION);
    for (size_t i = 0; i < sizeof cs_cmd_help / sizeof cs_cmd_help[0]; i++)
        if (cs_cmd_lookup(cs_cmd_help[i].name))
            fprintf(out, "  %-10s %s\n", cs_cmd_help[i].name, cs_cmd_help[i].summary);
    fprintf(out, "\n" CS_HELP_EXIT_CODES);
}

int main(int argc, char **argv) {
    cs_tmp_install_signal_cleanup(); /* no OUT.tmp-PID left behind by SIGINT/SIGTERM/SIGHUP */
    if (argc < 2) {
        cs_print_help(stderr);
        return CS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        cs_print_help(stdout);
        return CS_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("copyscope %s\n", COPYSCOPE_VERSION);
        return CS_EXIT_OK;
    }
    cs_cmd_fn fn = cs_cmd_lookup(cmd);
    if (!fn) {
        fprintf(stderr, "copyscope: unknown command '%s'; see 'copyscope --help'\n", cmd);
        return CS_EXIT_USAGE;
    }
    return fn(argc - 1, argv + 1);
}

/* ---- shared CLI helpers --------------------------------------------------------------------- */

int cs_cli_fail(const char *cmd, cs_status st) {
    const char *msg = cs_last_error();
    fprintf(stderr, "copyscope %s: %s\n", cmd, msg[0] ? msg : cs_status_name(st));
    if (getenv("COPYSCOPE_DEBUG")) fprintf(stderr, "  (recorded at %s)\n", cs_last_error_location());
    return cs_status_exit_code(st);
}

int cs_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "copyscope %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see 'copyscope %s --help'\n", cmd);
    return CS_EXIT_USAGE;
}

int cs_cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out) {
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!text[0] || *end || v < lo || v > hi) {
        cs_cli_usage_error(cmd, "%s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi, text);
        return 0;
    }
    *out = v;
    return 1;
}

int cs_cli_parse_double(const char *cmd, const char *opt, const char *text, double *out) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (!text[0] || *end) {
        cs_cli_usage_error(cmd, "%s expects a number, got '%s'", opt, text);
        return 0;
    }
    *out = v;
    return 1;
}

int cs_cli_stderr_is_tty(void) { return isatty(2); }
