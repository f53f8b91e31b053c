/* copyscope isc PATH...: the Inception Score of a set of images, as torch-fidelity computes it
 * (cs_isc_compute, copyscope/metrics.h). */
#include "cli.h"
#include "core/common.h"
#include "fid_input.h"

#include "copyscope/metrics.h"
#include "copyscope/protocol.h"
#include "copyscope/statsfile.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cmd = "isc";

static void usage(FILE *f) {
    fprintf(f,
            "Usage: copyscope isc PATH... [options]\n"
            "Inception Score of the images in PATH (directories of images, image files, or one\n"
            "2048-d features .h5 file from 'copyscope features'), as torch-fidelity 0.4.0 computes\n"
            "it: softmax of the fc layer's logits without its bias, rows shuffled by numpy's\n"
            "RandomState(2020).permutation, 10 splits, float64; mean and standard deviation of\n"
            "the splits' scores. The default protocol here is torch-fidelity's (its preprocessing).\n\n"
            "      --json          print {\"isc_mean\", \"isc_std\", \"n\", \"splits\", \"protocol\"} on stdout\n"
            "      --splits N      number of splits (default 10)\n"
            "      --no-shuffle    keep the rows in input order (torch-fidelity's samples_shuffle=False)\n"
            "      --seed S        shuffle seed, 0 .. 2^32-1 (default 2020, torch-fidelity's rng_seed)\n" CS_FID_CLI_HELP
            "  -h, --help\n\n" CS_HELP_EXIT_CODES);
}

enum { OPT_JSON = 1, OPT_SPLITS, OPT_NO_SHUFFLE, OPT_SEED };

/* Features of the inputs: one features file, or images (extracted as the options say). */
static cs_status isc_features(int n, char **paths, const cs_fid_cli_opts *o, cs_features *f) {
    cs_file_kind kind = CS_FILE_UNKNOWN;
    if (n == 1) CS_TRY(cs_file_kind_detect(paths[0], &kind));
    if (kind == CS_FILE_H5_FEATURES) return cs_features_file_read(paths[0], 0, f);
    if (kind == CS_FILE_NPZ || kind == CS_FILE_H5_STATS)
        return CS_FAIL(CS_E_USAGE, "%s: statistics hold no per-image features (give the images or a features file)", paths[0]);
    cs_pathlist files;
    CS_TRY(cs_pathlist_expand_listing((const char *const *)paths, (size_t)n, cs_protocol_listing((cs_protocol)o->feat.protocol), &files));
    cs_status st = cs_features_extract(&files, &o->feat, f);
    cs_pathlist_free(&files);
    return st;
}

int cs_cmd_isc(int argc, char **argv) {
    cs_fid_cli_opts o;
    cs_fid_cli_opts_default(&o);
    o.feat.protocol = CS_PROTOCOL_TORCH_FIDELITY;
    cs_isc_opts io;
    cs_isc_opts_default(&io);
    int json = 0, c, r;
    long v;
    static const struct option longopts[] = {{"json", no_argument, 0, OPT_JSON},
                                             {"splits", required_argument, 0, OPT_SPLITS},
                                             {"no-shuffle", no_argument, 0, OPT_NO_SHUFFLE},
                                             {"seed", required_argument, 0, OPT_SEED},
                                             {"help", no_argument, 0, 'h'},
                                             CS_FID_CLI_LONGOPTS,
                                             {0, 0, 0, 0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if ((r = cs_fid_cli_common_opt(cmd, c, optarg, &o)) != 0) {
            if (r < 0) return CS_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_SPLITS:
            if (!cs_cli_parse_int(cmd, "--splits", optarg, 1, 1000000, &v)) return CS_EXIT_USAGE;
            io.splits = (int)v;
            break;
        case OPT_NO_SHUFFLE: io.shuffle = 0; break;
        case OPT_SEED:
            if (!cs_cli_parse_int(cmd, "--seed", optarg, 0, 4294967295L, &v)) return CS_EXIT_USAGE;
            io.seed = (uint32_t)v;
            break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "unknown option");
        }
    }
    if (optind >= argc) return cs_cli_usage_error(cmd, "no input PATH given");
    if (o.dims_given && o.feat.dims != 2048) return cs_cli_usage_error(cmd, "--dims: the Inception Score needs 2048");
    o.feat.dims = 2048;
    cs_features f;
    cs_status st = isc_features(argc - optind, argv + optind, &o, &f);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    for (size_t i = 0; i < f.skipped.n; i++) fprintf(stderr, "copyscope isc: skipped %s\n", f.skipped_why[i]);
    cs_isc_result res;
    st = cs_isc_from_features(f.data, (int64_t)f.n, f.dims, o.feat.weights_path, &io, &res);
    const char *proto = cs_protocol_name((cs_protocol)f.protocol);
    cs_features_free(&f);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        char num[40];
        snprintf(num, sizeof num, "%.17g", res.isc);
        cJSON_AddRawToObject(j, "isc_mean", num);
        snprintf(num, sizeof num, "%.17g", res.isc_std);
        cJSON_AddRawToObject(j, "isc_std", num);
        cJSON_AddNumberToObject(j, "n", (double)res.n);
        cJSON_AddNumberToObject(j, "splits", res.splits);
        cJSON_AddBoolToObject(j, "shuffle", io.shuffle);
        cJSON_AddNumberToObject(j, "seed", io.seed);
        cJSON_AddStringToObject(j, "protocol", proto ? proto : "pytorch-fid");
        char *s = cJSON_PrintUnformatted(j);
        if (s) puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("Inception Score: %.7g +- %.7g  (%lld images, %d splits, protocol %s)\n", res.isc, res.isc_std,
               (long long)res.n, res.splits, proto ? proto : "pytorch-fid");
    }
    return CS_EXIT_OK;
}
