/* copyscope merge: exact merge of partial statistics and/or features files (shards). */
#include "cli.h"
#include "fid_input.h"

#include <stdlib.h>

int cs_cli_stats_merge_run(const char *cmd, int n, char **paths, const char *out_path,
                           const cs_fid_cli_opts *o);

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope merge PART... --out FILE.h5|FILE.npz\n\n"
            "Merge partial statistics (copyscope HDF5 statistics) and/or HDF5 features files, e.g.\n"
            "shards computed on different nodes, into the statistics of their union. The merge is\n"
            "exact (pairwise mean/co-moment update): any split and order gives the same result to\n"
            "rounding (~1e-13 relative). Parts from different feature extractors (weights or\n"
            "preprocessing) are refused. pytorch-fid .npz files cannot be merged: they hold no\n"
            "sample count.\n\n"
            "Options:\n"
            "  -o, --out FILE      output file (required): .h5 keeps n and the co-moment, .npz is\n"
            "                      pytorch-fid's mu/sigma\n"
            "  -h, --help          this help\n\n" CS_HELP_EXIT_CODES);
}

int cs_cmd_merge(int argc, char **argv) {
    const char *cmd = "merge";
    cs_fid_cli_opts o;
    cs_fid_cli_opts_default(&o);
    const char *out_path = NULL;
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (optind >= argc) return cs_cli_usage_error(cmd, "no PART given");
    if (!out_path) return cs_cli_usage_error(cmd, "--out FILE.h5 is required");
    return cs_cli_stats_merge_run(cmd, argc - optind, argv + optind, out_path, &o);
}
