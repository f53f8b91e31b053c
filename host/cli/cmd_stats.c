/* copyscope stats: statistics (mean, co-moment) of one or more inputs, merged, to .npz or .h5. */
#include "cli.h"
#include "copyscope/protocol.h"
#include "copyscope/model.h"
#include "fid_input.h"

#include "copyscope/shard.h"
#include "mpi_mode.h"
#include "copyscope/statsfile.h"

#include <sys/stat.h>

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
            "      --shard I/N     only shard I (0-based) of N contiguous slices of the expanded, sorted\n"
            "                      image list (inputs must be image directories/files); 'auto' reads\n"
            "                      the Slurm array task. Write FILE.h5 and finish with 'copyscope\n"
            "                      merge'; an empty shard writes n = 0 statistics\n"
            "      --mpi           MPI mode (mpirun -np K / srun --mpi=pmix; image inputs): rank r\n"
            "                      extracts shard r/K, the statistics are merged exactly (Chan) on\n"
            "                      rank 0, which writes FILE\n"
            "  -h, --help          this help\n" CS_FID_CLI_HELP "\n" CS_HELP_EXIT_CODES);
}

/* Shared by stats and merge: load every input, merge, write. */
int cs_cli_stats_merge_run(const char *cmd, int n, char **paths, const char *out_path,
                           const cs_fid_cli_opts *o) {
    cs_status st = CS_OK;
    cs_stats *acc = NULL;
    int *peek = calloc((size_t)n, sizeof *peek);
    if (!peek) return cs_cli_fail(cmd, CS_FAIL(CS_E_NOMEM, "out of memory"));
    st = cs_fid_precheck_dims(n, paths, o, peek); /* before reading any feature row */
    free(peek);
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

/* --shard: statistics of one slice of the images (n = 0 statistics when the slice is empty). */
static int cs_stats_shard_run(const char *cmd, int n, char **paths, const char *out_path,
                              const cs_fid_cli_opts *o, cs_shard sh) {
    for (int i = 0; i < n; i++) {
        struct stat sb;
        cs_file_kind kind;
        if (stat(paths[i], &sb) == 0 && !S_ISDIR(sb.st_mode) && cs_file_kind_detect(paths[i], &kind) == CS_OK &&
            (kind == CS_FILE_NPZ || kind == CS_FILE_H5_STATS || kind == CS_FILE_H5_FEATURES))
            return cs_cli_usage_error(cmd, "--shard: %s is a statistics/features file; shard image inputs "
                                      "(merge files with 'copyscope merge')", paths[i]);
    }
    cs_pathlist all, mine;
    cs_status st = cs_pathlist_expand_listing((const char *const *)paths, (size_t)n, cs_protocol_listing((cs_protocol)o->feat.protocol), &all);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    st = cs_pathlist_shard(&all, sh, &mine);
    cs_pathlist_free(&all);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    cs_stats *s = NULL;
    if (mine.n > 0) {
        cs_features f;
        st = cs_features_extract(&mine, &o->feat, &f);
        if (st == CS_OK) {
            for (size_t i = 0; i < f.skipped.n; i++) fprintf(stderr, "copyscope stats: skipped %s\n", f.skipped_why[i]);
            st = cs_features_to_stats(&f, &s);
        }
        cs_features_free(&f);
    } else {
        st = cs_stats_init(&s, o->feat.dims);
        cs_model_kind k = CS_MODEL_INCEPTION;
        (void)cs_model_kind_parse(o->feat.model, &k);
        if (st == CS_OK)
            snprintf(s->id.preprocessing, sizeof s->id.preprocessing, "%s",
                     k == CS_MODEL_INCEPTION ? cs_protocol_preprocess_id((cs_protocol)o->feat.protocol)
                                             : cs_model_kind_preprocess_id(k));
    }
    cs_pathlist_free(&mine);
    if (st == CS_OK) st = cs_stats_file_write(out_path, s);
    cs_stats_free(s);
    return st == CS_OK ? CS_EXIT_OK : cs_cli_fail(cmd, st);
}

int cs_cmd_stats(int argc, char **argv) {
    if (cs_mpi_requested(argc, argv)) return cs_mpi_main("stats", cs_cmd_stats, argc, argv);
    const char *cmd = "stats";
    cs_fid_cli_opts o;
    cs_fid_cli_opts_default(&o);
    const char *out_path = NULL;
    enum { OPT_SHARD = 2000 };
    cs_shard sh = {0, 0};
    const char *shard_spec = NULL;
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"shard", required_argument, 0, OPT_SHARD},
                                             CS_MPI_LONGOPT,
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
        case OPT_SHARD: shard_spec = optarg; break;
        case CS_OPT_MPI: break; /* cs_mpi_active() */
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (optind >= argc) return cs_cli_usage_error(cmd, "no INPUT given");
    if (!out_path) return cs_cli_usage_error(cmd, "--out FILE.npz|FILE.h5 is required");
    if (cs_mpi_active()) {
        if (shard_spec) return cs_cli_usage_error(cmd, "--mpi and --shard exclude each other");
        return cs_mpi_stats(cmd, argc - optind, argv + optind, out_path, &o);
    }
    if (shard_spec) {
        cs_status sst = cs_shard_parse(shard_spec, &sh);
        if (sst != CS_OK) return cs_cli_fail(cmd, sst);
        return cs_stats_shard_run(cmd, argc - optind, argv + optind, out_path, &o, sh);
    }
    return cs_cli_stats_merge_run(cmd, argc - optind, argv + optind, out_path, &o);
}
