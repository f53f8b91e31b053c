/* copyscope cmmd A B: CMMD between two sets of feature rows (google-research's cmmd/distance.py,
 * computed in float64; include/copyscope/cmmd.h). A and B are image directories (features of the
 * pipeline's model, through the feature cache) or HDF5 features files. */
#include "cli.h"
#include "core/common.h"
#include "fid_input.h"

#include "copyscope/protocol.h"
#include "copyscope/cmmd.h"
#include "copyscope/statsfile.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *cmd = "cmmd";

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope cmmd A B [options]\n\n"
            "CMMD (Jayasumana et al., CVPR 2024) between two sets, as google-research's cmmd/distance.py\n"
            "computes it: MMD with the Gaussian RBF kernel exp(-|a - b|^2 / (2 sigma^2)), sigma = 10, the\n"
            "biased estimator (every pair, diagonal included), times 1000; here in float64 (their code\n"
            "runs in float32: docs/metrics.md gives the difference). A and B are image directories\n"
            "(features of the current model, cached like 'copyscope features') or features .h5 files;\n"
            "statistics files (.npz, stats .h5) hold no rows and are refused. The sets may differ in size.\n"
            "Rows are L2-normalised first, as CMMD's CLIP embeddings are. Prints \"CMMD:  <value>\".\n\n"
            "Options:\n"
            "      --json          print {\"cmmd\", \"n1\", \"n2\", \"dims\", \"normalized\", \"sigma\", \"scale\",\n"
            "                      \"k_xx\", \"k_yy\", \"k_xy\"} (the three kernel means)\n"
            "      --no-normalize  use the rows as given (distance.py's mmd on the stored features)\n"
            "  -h, --help          this help\n" CS_FID_CLI_HELP "\n" CS_HELP_EXIT_CODES);
}

/* The feature rows of one input. */
static cs_status cmmd_load(const char *path, const cs_fid_cli_opts *o, cs_features *rows) {
    memset(rows, 0, sizeof *rows);
    cs_file_kind kind;
    CS_TRY(cs_file_kind_detect(path, &kind));
    switch (kind) {
    case CS_FILE_H5_FEATURES: return cs_features_file_read(path, 0, rows);
    case CS_FILE_DIRECTORY: {
        cs_pathlist files;
        CS_TRY(cs_pathlist_expand_listing(&path, 1, cs_protocol_listing((cs_protocol)o->feat.protocol), &files));
        cs_status st = cs_features_extract(&files, &o->feat, rows);
        cs_pathlist_free(&files);
        if (st != CS_OK) return st;
        if (!o->feat.quiet)
            fprintf(stderr, "%s: %zu images (%zu from cache, %zu computed)%s\n", path, rows->n, rows->n_from_cache,
                    rows->n_computed, rows->skipped.n ? ", some skipped" : "");
        for (size_t i = 0; i < rows->skipped.n; i++) fprintf(stderr, "  skipped %s\n", rows->skipped_why[i]);
        return CS_OK;
    }
    case CS_FILE_NPZ:
    case CS_FILE_H5_STATS:
        return CS_FAIL(CS_E_USAGE, "%s: a statistics file holds no feature rows; CMMD needs an image directory "
                       "or a features .h5 ('copyscope features')", path);
    default: return CS_FAIL(CS_E_FORMAT, "%s: unknown input kind", path);
    }
}

/* The shortest decimal that reads back as v (Python's repr digits). */
static void cmmd_format(double v, char *out, size_t cap) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void cmmd_add_num(cJSON *o, const char *key, double v) {
    char num[64];
    cmmd_format(v, num, sizeof num);
    cJSON_AddRawToObject(o, key, num);
}

int cs_cmd_cmmd(int argc, char **argv) {
    cs_fid_cli_opts o;
    cs_fid_cli_opts_default(&o);
    cs_cmmd_opts co;
    cs_cmmd_opts_default(&co);
    int json = 0;
    enum { OPT_JSON = 256, OPT_NO_NORMALIZE };
    static const struct option longopts[] = {{"json", no_argument, 0, OPT_JSON},
                                             {"no-normalize", no_argument, 0, OPT_NO_NORMALIZE},
                                             {"help", no_argument, 0, 'h'},
                                             CS_FID_CLI_LONGOPTS,
                                             {0, 0, 0, 0}};
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if ((r = cs_fid_cli_common_opt(cmd, c, optarg, &o)) != 0) {
            if (r < 0) return CS_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_NO_NORMALIZE: co.normalize = 0; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (argc - optind != 2) return cs_cli_usage_error(cmd, "needs two inputs A B");
    char **paths = argv + optind;
    co.threads = o.feat.threads;
    int peek[2];
    cs_features f[2];
    memset(f, 0, sizeof f);
    cs_cmmd_result res;
    /* dimensions from the files' shapes before any row is read */
    cs_status st = cs_fid_precheck_dims(2, paths, &o, peek);
    for (int i = 0; i < 2 && st == CS_OK; i++) st = cmmd_load(paths[i], &o, &f[i]);
    if (st == CS_OK && f[0].dims != f[1].dims)
        st = CS_FAIL(CS_E_MISMATCH, "%s has %d-dimensional features, %s has %d", paths[0], f[0].dims, paths[1],
                     f[1].dims);
    if (st == CS_OK && o.dims_given && f[0].dims != o.feat.dims)
        st = CS_FAIL(CS_E_MISMATCH, "%s: has %d-dimensional features, --dims says %d", paths[0], f[0].dims,
                     o.feat.dims);
    for (int i = 0; i < 2 && st == CS_OK; i++)
        if (f[i].n < 1) st = CS_FAIL(CS_E_USAGE, "%s: has no feature rows", paths[i]);
    if (st == CS_OK) {
        st = cs_cmmd_compute(f[0].data, (int64_t)f[0].n, f[1].data, (int64_t)f[1].n, f[0].dims, &co, &res);
        if (st != CS_OK) st = CS_FAIL(st, "%s vs %s: %s", paths[0], paths[1], cs_last_error());
    }
    if (st == CS_OK) {
        if (json) {
            cJSON *obj = cJSON_CreateObject();
            cmmd_add_num(obj, "cmmd", res.cmmd);
            cJSON_AddNumberToObject(obj, "n1", (double)f[0].n);
            cJSON_AddNumberToObject(obj, "n2", (double)f[1].n);
            cJSON_AddNumberToObject(obj, "dims", f[0].dims);
            cJSON_AddBoolToObject(obj, "normalized", co.normalize);
            cJSON_AddNumberToObject(obj, "sigma", co.sigma);
            cJSON_AddNumberToObject(obj, "scale", co.scale);
            cmmd_add_num(obj, "k_xx", res.k_xx);
            cmmd_add_num(obj, "k_yy", res.k_yy);
            cmmd_add_num(obj, "k_xy", res.k_xy);
            char *txt = cJSON_PrintUnformatted(obj);
            printf("%s\n", txt ? txt : "{}");
            free(txt);
            cJSON_Delete(obj);
        } else {
            char num[64];
            cmmd_format(res.cmmd, num, sizeof num);
            printf("CMMD:  %s\n", num);
        }
    }
    cs_features_free(&f[0]);
    cs_features_free(&f[1]);
    return st == CS_OK ? CS_EXIT_OK : cs_cli_fail(cmd, st);
}
