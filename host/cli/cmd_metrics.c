/* copyscope metrics REF GEN: the paper's similarity metrics (pixel metrics per image pair, KID and
 * FID per set). Definitions in include/copyscope/metrics.h and docs/metrics.md. */
#include "cli.h"
#include "core/common.h"

#include "copyscope/features.h"
#include "copyscope/frechet.h"
#include "copyscope/image.h"
#include "copyscope/metrics.h"
#include "copyscope/stats.h"
#include "core/threadpool.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cmd = "metrics";

static void usage(FILE *f) {
    fprintf(f,
            "Usage: copyscope metrics REF GEN [options]\n"
            "Similarity of generated images GEN to reference images REF (each a directory of images\n"
            "or an image file). Pixel metrics compare every generated image with every reference\n"
            "image (mean, min and max over the pairs; per generated image with --json); KID and FID\n"
            "compare the two sets' Inception features. Larger = closer for every similarity; KID and\n"
            "FID are distances (their utility is minus the value).\n\n"
            "  -m, --metric LIST   comma-separated: cosine, hist, dhash, ssim, rgb-ssim, fusion, kid,\n"
            "                      fid, or 'all' (default: cosine,hist,dhash,ssim,rgb-ssim,fusion)\n"
            "      --json          one JSON object on stdout\n"
            "  -t, --threads N     threads (default: all cores)\n"
            "For kid and fid (Inception features, cached like 'copyscope features'):\n"
            "      --weights FILE  Inception weights (default: $COPYSCOPE_WEIGHTS, torch hub cache)\n"
            "      --device DEV    cpu, cuda or auto (default auto)\n"
            "      --no-cache      do not read or write the feature cache\n"
            "      --kid-subsets N     number of subsets (default 100)\n"
            "      --kid-subset-size M subset size, capped at both set sizes (default 1000)\n"
            "      --seed S        subset sampling seed (default 0)\n"
            "  -h, --help\n\n" CS_HELP_EXIT_CODES);
}

enum { OPT_JSON = 1, OPT_WEIGHTS, OPT_DEVICE, OPT_NO_CACHE, OPT_KID_N, OPT_KID_M, OPT_SEED };

static void add_num(cJSON *o, const char *key, double v) {
    if (!isfinite(v)) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char num[40];
    snprintf(num, sizeof num, "%.17g", v);
    cJSON_AddRawToObject(o, key, num);
}

static cs_status load_set(const char *path, cs_pathlist *pl, cs_image **imgs, cs_threadpool *pool) {
    CS_TRY(cs_pathlist_expand(&path, 1, pl));
    *imgs = calloc(pl->n, sizeof **imgs);
    cs_status *st = calloc(pl->n, sizeof *st);
    if (!*imgs || !st) {
        free(st);
        return CS_FAIL(CS_E_NOMEM, "%s: out of memory for %zu images", path, pl->n);
    }
    cs_status r = cs_image_load_many(pool, (const char *const *)pl->paths, pl->n, *imgs, st, NULL);
    free(st);
    return r;
}

static void free_set(cs_pathlist *pl, cs_image *imgs) {
    if (imgs)
        for (size_t i = 0; i < pl->n; i++) cs_image_free(&imgs[i]);
    free(imgs);
    cs_pathlist_free(pl);
}

int cs_cmd_metrics(int argc, char **argv) {
    static const struct option longopts[] = {
        {"metric", required_argument, 0, 'm'},     {"json", no_argument, 0, OPT_JSON},
        {"threads", required_argument, 0, 't'},    {"weights", required_argument, 0, OPT_WEIGHTS},
        {"device", required_argument, 0, OPT_DEVICE}, {"no-cache", no_argument, 0, OPT_NO_CACHE},
        {"kid-subsets", required_argument, 0, OPT_KID_N},
        {"kid-subset-size", required_argument, 0, OPT_KID_M},
        {"seed", required_argument, 0, OPT_SEED},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int want[CS_METRIC_COUNT] = {1, 1, 1, 1, 1, 1, 0, 0};
    int json = 0, threads = 0, c;
    long v;
    cs_features_opts fo;
    cs_features_opts_default(&fo);
    fo.quiet = 1;
    cs_kid_opts ko;
    cs_kid_opts_default(&ko);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': {
            memset(want, 0, sizeof want);
            char *list = strdup(optarg), *save = NULL;
            if (!list) return cs_cli_usage_error(cmd, "out of memory");
            for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                cs_metric m;
                if (strcmp(tok, "all") == 0) {
                    for (int i = 0; i < CS_METRIC_COUNT; i++) want[i] = 1;
                    continue;
                }
                if (cs_metric_parse(tok, &m) != CS_OK) {
                    free(list);
                    return cs_cli_usage_error(cmd, "%s", cs_last_error());
                }
                want[m] = 1;
            }
            free(list);
            break;
        }
        case OPT_JSON: json = 1; break;
        case 't':
            if (!cs_cli_parse_int(cmd, "--threads", optarg, 0, 1024, &v)) return CS_EXIT_USAGE;
            threads = (int)v;
            break;
        case OPT_WEIGHTS: fo.weights_path = optarg; break;
        case OPT_DEVICE: fo.device = optarg; break;
        case OPT_NO_CACHE: fo.use_cache = 0; break;
        case OPT_KID_N:
            if (!cs_cli_parse_int(cmd, "--kid-subsets", optarg, 1, 1000000, &v)) return CS_EXIT_USAGE;
            ko.n_subsets = (int)v;
            break;
        case OPT_KID_M:
            if (!cs_cli_parse_int(cmd, "--kid-subset-size", optarg, 2, 1000000, &v)) return CS_EXIT_USAGE;
            ko.subset_size = v;
            break;
        case OPT_SEED:
            if (!cs_cli_parse_int(cmd, "--seed", optarg, 0, 2147483647L, &v)) return CS_EXIT_USAGE;
            ko.seed = (uint64_t)v;
            break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "unknown option");
        }
    }
    if (argc - optind != 2) return cs_cli_usage_error(cmd, "expected REF and GEN");
    const char *ref_path = argv[optind], *gen_path = argv[optind + 1];
    fo.threads = threads;

    int any_pixel = 0;
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) any_pixel |= want[m];
    cs_status st = CS_OK;
    cs_threadpool *pool = NULL;
    cs_pathlist pr = {0}, pg = {0};
    cs_image *ir = NULL, *ig = NULL;
    cs_features fr = {0}, fg = {0};
    cs_stats *sr = NULL, *sg = NULL;
    cs_metric_score score[CS_METRIC_N_PIXEL];
    double *per_gen = NULL; /* (ngen, CS_METRIC_N_PIXEL) float64 */
    cs_kid_result kid = {0};
    cs_fid_result fid = {0};
    cJSON *root = NULL;

    pool = cs_threadpool_create(threads);
    if (!pool) {
        st = CS_E_NOMEM;
        goto done;
    }
    if (any_pixel) {
        CS_TRY_GOTO(st, load_set(ref_path, &pr, &ir, pool), done);
        CS_TRY_GOTO(st, load_set(gen_path, &pg, &ig, pool), done);
        per_gen = malloc(pg.n * CS_METRIC_N_PIXEL * sizeof(double));
        if (!per_gen) {
            st = CS_FAIL(CS_E_NOMEM, "metrics: out of memory");
            goto done;
        }
        CS_TRY_GOTO(st, cs_metric_set_scores(want, ir, pr.n, ig, pg.n, pool, score, per_gen), done);
    }
    if (want[CS_METRIC_KID] || want[CS_METRIC_FID]) {
        cs_pathlist lr = {0}, lg = {0};
        st = cs_pathlist_expand(&ref_path, 1, &lr);
        if (st == CS_OK) st = cs_pathlist_expand(&gen_path, 1, &lg);
        if (st == CS_OK) st = cs_features_extract(&lr, &fo, &fr);
        if (st == CS_OK) st = cs_features_extract(&lg, &fo, &fg);
        cs_pathlist_free(&lr);
        cs_pathlist_free(&lg);
        if (st != CS_OK) goto done;
        if (want[CS_METRIC_KID])
            CS_TRY_GOTO(st, cs_kid_compute(fr.data, (int64_t)fr.n, fg.data, (int64_t)fg.n, fr.dims, &ko, &kid, NULL), done);
        if (want[CS_METRIC_FID]) {
            CS_TRY_GOTO(st, cs_stats_init(&sr, fr.dims), done);
            CS_TRY_GOTO(st, cs_stats_init(&sg, fg.dims), done);
            CS_TRY_GOTO(st, cs_stats_add_f32(sr, fr.data, (int64_t)fr.n), done);
            CS_TRY_GOTO(st, cs_stats_add_f32(sg, fg.data, (int64_t)fg.n), done);
            CS_TRY_GOTO(st, cs_fid_compute(sr, fr.data, sg, fg.data, CS_FID_AUTO, &fid), done);
        }
    }

    if (json) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "ref", ref_path);
        cJSON_AddStringToObject(root, "gen", gen_path);
        cJSON *ms = cJSON_AddObjectToObject(root, "metrics");
        for (int m = 0; m < CS_METRIC_N_PIXEL; m++) {
            if (!want[m]) continue;
            cJSON *o = cJSON_AddObjectToObject(ms, cs_metric_name((cs_metric)m));
            add_num(o, "mean", score[m].mean);
            add_num(o, "min", score[m].min);
            add_num(o, "max", score[m].max);
            cJSON_AddNumberToObject(o, "pairs", (double)score[m].n_pairs);
        }
        if (want[CS_METRIC_KID]) {
            cJSON *o = cJSON_AddObjectToObject(ms, "kid");
            add_num(o, "kid", kid.kid);
            add_num(o, "std", kid.kid_std);
            add_num(o, "utility", -kid.kid);
            cJSON_AddNumberToObject(o, "subsets", kid.n_subsets);
            cJSON_AddNumberToObject(o, "subset_size", (double)kid.subset_size);
            cJSON_AddNumberToObject(o, "seed", (double)ko.seed);
        }
        if (want[CS_METRIC_FID]) {
            cJSON *o = cJSON_AddObjectToObject(ms, "fid");
            add_num(o, "fid", fid.fid);
            add_num(o, "utility", -fid.fid);
            cJSON_AddNumberToObject(o, "n1", (double)fr.n);
            cJSON_AddNumberToObject(o, "n2", (double)fg.n);
            cJSON_AddStringToObject(o, "method", fid.method ? fid.method : "");
        }
        if (any_pixel) {
            cJSON *arr = cJSON_AddArrayToObject(root, "per_image");
            for (size_t g = 0; g < pg.n; g++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "path", pg.paths[g]);
                for (int m = 0; m < CS_METRIC_N_PIXEL; m++)
                    if (want[m]) add_num(o, cs_metric_name((cs_metric)m), per_gen[g * CS_METRIC_N_PIXEL + m]);
                cJSON_AddItemToArray(arr, o);
            }
        }
        char *txt = cJSON_PrintUnformatted(root);
        if (!txt) {
            st = CS_FAIL(CS_E_NOMEM, "metrics: out of memory printing JSON");
            goto done;
        }
        puts(txt);
        free(txt);
    } else {
        if (any_pixel)
            printf("# %zu generated x %zu reference images = %zu pairs (larger = closer)\n", pg.n,
                   pr.n, pg.n * pr.n);
        for (int m = 0; m < CS_METRIC_N_PIXEL; m++)
            if (want[m])
                printf("%-9s mean %.6f  min %.6f  max %.6f\n", cs_metric_name((cs_metric)m),
                       score[m].mean, score[m].min, score[m].max);
        if (want[CS_METRIC_KID])
            printf("kid       %.6g +- %.6g  (%d subsets of %lld; distance, utility = -kid)\n",
                   kid.kid, kid.kid_std, kid.n_subsets, (long long)kid.subset_size);
        if (want[CS_METRIC_FID])
            printf("fid       %.6f  (%zu vs %zu images; distance, utility = -fid)\n", fid.fid, fr.n, fg.n);
    }
done:
    if (root) cJSON_Delete(root);
    free(per_gen);
    cs_stats_free(sr);
    cs_stats_free(sg);
    cs_features_free(&fr);
    cs_features_free(&fg);
    free_set(&pr, ir);
    free_set(&pg, ig);
    cs_threadpool_free(pool);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    return CS_EXIT_OK;
}
