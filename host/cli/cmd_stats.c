/* copyscope stats: statistics (mean, co-moment) of one or more inputs, merged, to .npz or .h5. */
#include "cli.h"
#include "fid_input.h"

#include "copyscope/statsfile.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope stats INPUT... --out FILE.npz|FILE.h5 [options]\n\n"
            "Save the statistics of the union of the inputs (HDF5 features files, copyscope HDF5\n"
            "statistics, or a single pytorch-fid .npz). FILE.npz is pytorch-fid's format (mu, sigma);\n"
            "FILE.h5 keeps the sample count and co-moment so that it can be merged exactly later.\n\n"
            "Options:\n"
            "  -o, --out FILE      output file (required)\n"
            "  -h, --help          this help\n" CS_FID_CLI_HELP "\n" CS_HELP_EXIT_CODES);
}

/* Shared by stats and merge: load every input, merge, write. */
int cs_cli_stats_merge_run(const char *cmd, int n, char **paths, const char *out_path,
                           const cs_fid_cli_opts *o) {
    cs_status st = CS_OK;
    cs_stats *acc = NULL;
    for (int i = 0; i < n && st == CS_OK; i++) {
        cs_fid_input in;
        cs_stats *s = NULL;
        st = cs_fid_load_input(paths[i], o, 0, &in);
        if (st != CS_OK) break;
        st = cs_fid_input_stats(&in, &s);
        if (st != CS_OK) {
        } else if (!acc) {
            acc = in.stats;
            in.stats = NULL;
        } else {
            st = cs_stats_merge(acc, s);
            if (st != CS_OK) st = CS_FAIL(st, "%s: %s", paths[i], cs_last_error());
        }
        cs_fid_input_free(&in);
    }
    if (st == CS_OK) st = cs_stats_file_write(out_path, acc);
    cs_stats_free(acc);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    return CS_EXIT_OK;
}

int cs_cmd_stats(int argc, char **argv) {
    const char *cmd = "stats";
    cs_fid_cli_opts o;
    cs_fid_cli_opts_default(&o);
    const char *out_path = NULL;
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"help", no_argument, 0, 'h'},
                                             CS_FID_CLI_LONGOPTS,
                                             {0, 0, 0, 0}};
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        if ((r = cs_fid_cli_common_opt(cmd, c, optarg, &o)) != 0) {
            if (r < 0) return CS_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (optind >= argc) return cs_cli_usage_error(cmd, "no INPUT given");
    if (!out_path) return cs_cli_usage_error(cmd, "--out FILE.npz|FILE.h5 is required");
    return cs_cli_stats_merge_run(cmd, argc - optind, argv + optind, out_path, &o);
}
