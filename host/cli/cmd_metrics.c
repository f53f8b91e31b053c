/* copyscope metrics REF GEN: the paper's similarity metrics (pixel metrics per image pair, KID and
 * FID per set). Definitions in include/copyscope/metrics.h and docs/metrics.md. */
#include "cli.h"
#include "core/common.h"

#include "copyscope/cmmd.h"
#include "copyscope/features.h"
#include "copyscope/frechet.h"
#include "copyscope/image.h"
#include "copyscope/metrics.h"
#include "copyscope/protocol.h"
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
            "compare the two sets' Inception features, and so does CMMD (copyscope cmmd). Larger =\n"
            "closer for every similarity; KID, FID and CMMD are distances (their utility is minus the\n"
            "value).\n\n"
            "  -m, --metric LIST   comma-separated: cosine, hist, dhash, ssim, rgb-ssim, fusion, kid,\n"
            "                      fid, cmmd, isc (Inception Score of GEN, torch-fidelity's), or 'all'\n"
            "                      (default: cosine,hist,dhash,ssim,rgb-ssim,fusion)\n"
            "      --json          one JSON object on stdout\n"
            "  -t, --threads N     threads (default: all cores)\n"
            "For kid, fid, cmmd and isc (Inception features, cached like 'copyscope features'):\n"
            "      --protocol P    pytorch-fid (default; legacy_pytorch), clean-fid (clean) or\n"
            "                      torch-fidelity (tensorflow, legacy_tensorflow): the preprocessing\n"
            "      --weights FILE  Inception weights (default: $COPYSCOPE_WEIGHTS, torch hub cache)\n"
            "      --device DEV    cpu, cuda or auto (default auto)\n"
            "      --cache DIR     feature cache directory (default $XDG_CACHE_HOME/copyscope)\n"
            "      --no-cache      do not read or write the feature cache\n"
            "      --kid-subsets N     number of subsets (default 100)\n"
            "      --kid-subset-size M subset size, capped at both set sizes (default 1000)\n"
            "      --kid-sampler S copyscope (default) or torch-fidelity (numpy RandomState(seed):\n"
            "                      torch-fidelity's subsets); the default with --protocol\n"
            "                      torch-fidelity is torch-fidelity\n"
            "      --seed S        subset sampling seed (default 0; 2020 with the torch-fidelity sampler)\n"
            "  -h, --help\n\n" CS_HELP_EXIT_CODES);
}

enum { OPT_JSON = 1, OPT_WEIGHTS, OPT_DEVICE, OPT_NO_CACHE, OPT_KID_N, OPT_KID_M, OPT_SEED, OPT_PROTOCOL, OPT_KID_SAMPLER, OPT_CACHE };

static void add_num(cJSON *o, const char *key, double v) {
    if (!isfinite(v)) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char num[40];
    snprintf(num, sizeof num, "%.17g", v);
    cJSON_AddRawToObject(o, key, num);
}

static cs_status load_set(const char *path, cs_image_listing rule, cs_pathlist *pl, cs_image **imgs,
                          cs_threadpool *pool) {
    CS_TRY(cs_pathlist_expand_listing(&path, 1, rule, pl));
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

/* The command line, parsed. */
typedef struct cs_metrics_cli {
    int want[CS_METRIC_COUNT];
    int want_isc; /* -m isc (not a cs_metric: one set, no utility) */
    int json, threads;
    cs_features_opts fo;
    cs_kid_opts ko;
    const char *ref_path, *gen_path;
} cs_metrics_cli;

/* What was measured. */
typedef struct cs_metrics_out {
    cs_pathlist pr, pg;  /* pixel metrics: the images' paths */
    cs_image *ir, *ig;   /* and the decoded images */
    cs_features fr, fg;  /* kid / fid: the features */
    cs_stats *sr, *sg;
    cs_metric_score score[CS_METRIC_N_PIXEL];
    double *per_gen;     /* (ngen, CS_METRIC_N_PIXEL) float64 */
    cs_kid_result kid;
    cs_fid_result fid;
    cs_isc_result isc;
    cs_cmmd_result cmmd;
} cs_metrics_out;

/* -m LIST: the wanted metrics. Returns -1 to go on, else the exit code. */
static int cs_metrics_parse_list(const char *arg, int *want, int *want_isc) {
    memset(want, 0, CS_METRIC_COUNT * sizeof *want);
    *want_isc = 0;
    char *list = strdup(arg), *save = NULL;
    if (!list) return cs_cli_usage_error(cmd, "out of memory");
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        cs_metric m;
        if (strcmp(tok, "all") == 0) {
            for (int i = 0; i < CS_METRIC_COUNT; i++) want[i] = !cs_metric_is_nearest((cs_metric)i);
            *want_isc = 1;
            continue;
        }
        if (strcmp(tok, "isc") == 0) {
            *want_isc = 1;
            continue;
        }
        if (cs_metric_parse(tok, &m) != CS_OK) {
            free(list);
            return cs_cli_usage_error(cmd, "%s", cs_last_error());
        }
        if (cs_metric_is_nearest(m)) {
            free(list);
            return cs_cli_usage_error(cmd, "%s is an audit utility (copyscope audit --utility %s)", cs_metric_name(m),
                                      cs_metric_name(m));
        }
        want[m] = 1;
    }
    free(list);
    return -1;
}

/* Reads the options into cl. Returns -1 to go on, else the exit code (help, usage error). */
static int cs_metrics_parse_args(int argc, char **argv, cs_metrics_cli *cl) {
    static const struct option longopts[] = {
        {"metric", required_argument, 0, 'm'},     {"json", no_argument, 0, OPT_JSON},
        {"threads", required_argument, 0, 't'},    {"weights", required_argument, 0, OPT_WEIGHTS},
        {"device", required_argument, 0, OPT_DEVICE}, {"no-cache", no_argument, 0, OPT_NO_CACHE},
        {"kid-subsets", required_argument, 0, OPT_KID_N},
        {"kid-subset-size", required_argument, 0, OPT_KID_M},
        {"seed", required_argument, 0, OPT_SEED},  {"help", no_argument, 0, 'h'},
        {"protocol", required_argument, 0, OPT_PROTOCOL},
        {"kid-sampler", required_argument, 0, OPT_KID_SAMPLER},
        {"cache", required_argument, 0, OPT_CACHE},
        {0, 0, 0, 0}};
    int sampler_given = 0, seed_given = 0;
    static const int want_default[CS_METRIC_COUNT] = {1, 1, 1, 1, 1, 1, 0, 0, 0};
    memcpy(cl->want, want_default, sizeof cl->want);
    cs_features_opts_default(&cl->fo);
    cl->fo.quiet = 1;
    cs_kid_opts_default(&cl->ko);
    int c, rc;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if ((rc = cs_metrics_parse_list(optarg, cl->want, &cl->want_isc)) >= 0) return rc;
            break;
        case OPT_JSON: cl->json = 1; break;
        case 't':
            if (!cs_cli_parse_int(cmd, "--threads", optarg, 0, 1024, &v)) return CS_EXIT_USAGE;
            cl->threads = (int)v;
            break;
        case OPT_WEIGHTS: cl->fo.weights_path = optarg; break;
        case OPT_DEVICE: cl->fo.device = optarg; break;
        case OPT_NO_CACHE: cl->fo.use_cache = 0; break;
        case OPT_CACHE: cl->fo.cache_dir = optarg; break;
        case OPT_KID_N:
            if (!cs_cli_parse_int(cmd, "--kid-subsets", optarg, 1, 1000000, &v)) return CS_EXIT_USAGE;
            cl->ko.n_subsets = (int)v;
            break;
        case OPT_KID_M:
            if (!cs_cli_parse_int(cmd, "--kid-subset-size", optarg, 2, 1000000, &v)) return CS_EXIT_USAGE;
            cl->ko.subset_size = v;
            break;
        case OPT_SEED:
            if (!cs_cli_parse_int(cmd, "--seed", optarg, 0, 2147483647L, &v)) return CS_EXIT_USAGE;
            cl->ko.seed = (uint64_t)v;
            seed_given = 1;
            break;
        case OPT_PROTOCOL: {
            cs_protocol p;
            if (cs_protocol_parse(optarg, &p) != CS_OK) return cs_cli_usage_error(cmd, "--protocol: %s", cs_last_error());
            cl->fo.protocol = (int)p;
            break;
        }
        case OPT_KID_SAMPLER:
            if (strcmp(optarg, "copyscope") == 0) cl->ko.sampler = CS_KID_SAMPLER_COPYSCOPE;
            else if (strcmp(optarg, "torch-fidelity") == 0 || strcmp(optarg, "numpy") == 0) cl->ko.sampler = CS_KID_SAMPLER_NUMPY;
            else return cs_cli_usage_error(cmd, "--kid-sampler must be copyscope or torch-fidelity (got '%s')", optarg);
            sampler_given = 1;
            break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "unknown option");
        }
    }
    if (argc - optind != 2) return cs_cli_usage_error(cmd, "expected REF and GEN");
    if (!sampler_given && cl->fo.protocol == CS_PROTOCOL_TORCH_FIDELITY) cl->ko.sampler = CS_KID_SAMPLER_NUMPY;
    if (!seed_given && cl->ko.sampler == CS_KID_SAMPLER_NUMPY) cl->ko.seed = 2020; /* torch-fidelity's rng_seed */
    cl->ref_path = argv[optind], cl->gen_path = argv[optind + 1];
    cl->fo.threads = cl->threads;
    return -1;
}

static int cs_metrics_any_pixel(const int *want) {
    int any = 0;
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) any |= want[m];
    return any;
}

/* Pixel metrics: both sets decoded, every (generated, reference) pair scored. */
static cs_status cs_metrics_pixel(const cs_metrics_cli *cl, cs_threadpool *pool, cs_metrics_out *r) {
    const cs_image_listing rule = cs_protocol_listing((cs_protocol)cl->fo.protocol); /* the same files as KID/FID */
    CS_TRY(load_set(cl->ref_path, rule, &r->pr, &r->ir, pool));
    CS_TRY(load_set(cl->gen_path, rule, &r->pg, &r->ig, pool));
    r->per_gen = malloc(r->pg.n * CS_METRIC_N_PIXEL * sizeof(double));
    if (!r->per_gen) return CS_FAIL(CS_E_NOMEM, "metrics: out of memory");
    return cs_metric_set_scores(cl->want, r->ir, r->pr.n, r->ig, r->pg.n, pool, r->score, r->per_gen);
}

/* KID and FID: both sets' Inception features, then the set metrics on them. */
static cs_status cs_metrics_features(const cs_metrics_cli *cl, cs_metrics_out *r) {
    cs_pathlist lr = {0}, lg = {0};
    const cs_image_listing rule = cs_protocol_listing((cs_protocol)cl->fo.protocol);
    cs_status st = cs_pathlist_expand_listing(&cl->ref_path, 1, rule, &lr);
    if (st == CS_OK) st = cs_pathlist_expand_listing(&cl->gen_path, 1, rule, &lg);
    if (st == CS_OK) st = cs_features_extract(&lr, &cl->fo, &r->fr);
    if (st == CS_OK) st = cs_features_extract(&lg, &cl->fo, &r->fg);
    cs_pathlist_free(&lr);
    cs_pathlist_free(&lg);
    CS_TRY(st);
    const cs_features *fr = &r->fr, *fg = &r->fg;
    if (cl->want[CS_METRIC_KID])
        CS_TRY(cs_kid_compute(fr->data, (int64_t)fr->n, fg->data, (int64_t)fg->n, fr->dims, &cl->ko, &r->kid, NULL));
    if (cl->want[CS_METRIC_CMMD]) {
        cs_cmmd_opts co;
        cs_cmmd_opts_default(&co);
        co.threads = cl->threads;
        CS_TRY(cs_cmmd_compute(fr->data, (int64_t)fr->n, fg->data, (int64_t)fg->n, fr->dims, &co, &r->cmmd));
    }
    if (cl->want[CS_METRIC_FID]) {
        CS_TRY(cs_stats_init(&r->sr, fr->dims));
        CS_TRY(cs_stats_init(&r->sg, fg->dims));
        CS_TRY(cs_stats_add_f32(r->sr, fr->data, (int64_t)fr->n));
        CS_TRY(cs_stats_add_f32(r->sg, fg->data, (int64_t)fg->n));
        CS_TRY(cs_fid_compute(r->sr, fr->data, r->sg, fg->data, CS_FID_AUTO, &r->fid));
    }
    if (cl->want_isc) /* of the generated set, as torch-fidelity's isc of input1 */
        CS_TRY(cs_isc_from_features(fg->data, (int64_t)fg->n, fg->dims, cl->fo.weights_path, NULL, &r->isc));
    return CS_OK;
}

/* One JSON object on stdout. */
static cs_status cs_metrics_print_json(const cs_metrics_cli *cl, const cs_metrics_out *r) {
    const int *want = cl->want;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "ref", cl->ref_path);
    cJSON_AddStringToObject(root, "gen", cl->gen_path);
    cJSON *ms = cJSON_AddObjectToObject(root, "metrics");
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) {
        if (!want[m]) continue;
        cJSON *o = cJSON_AddObjectToObject(ms, cs_metric_name((cs_metric)m));
        add_num(o, "mean", r->score[m].mean);
        add_num(o, "min", r->score[m].min);
        add_num(o, "max", r->score[m].max);
        cJSON_AddNumberToObject(o, "pairs", (double)r->score[m].n_pairs);
    }
    if (want[CS_METRIC_KID]) {
        cJSON *o = cJSON_AddObjectToObject(ms, "kid");
        add_num(o, "kid", r->kid.kid);
        add_num(o, "std", r->kid.kid_std);
        add_num(o, "utility", -r->kid.kid);
        cJSON_AddNumberToObject(o, "subsets", r->kid.n_subsets);
        cJSON_AddNumberToObject(o, "subset_size", (double)r->kid.subset_size);
        cJSON_AddNumberToObject(o, "seed", (double)cl->ko.seed);
        cJSON_AddStringToObject(o, "sampler", cl->ko.sampler == CS_KID_SAMPLER_NUMPY ? "torch-fidelity" : "copyscope");
        cJSON_AddStringToObject(o, "protocol", cs_protocol_name((cs_protocol)cl->fo.protocol));
    }
    if (cl->want_isc) {
        cJSON *o = cJSON_AddObjectToObject(ms, "isc");
        add_num(o, "isc_mean", r->isc.isc);
        add_num(o, "isc_std", r->isc.isc_std);
        cJSON_AddNumberToObject(o, "n", (double)r->isc.n);
        cJSON_AddNumberToObject(o, "splits", r->isc.splits);
        cJSON_AddStringToObject(o, "protocol", cs_protocol_name((cs_protocol)cl->fo.protocol));
    }
    if (want[CS_METRIC_FID]) {
        cJSON *o = cJSON_AddObjectToObject(ms, "fid");
        add_num(o, "fid", r->fid.fid);
        add_num(o, "utility", -r->fid.fid);
        cJSON_AddNumberToObject(o, "n1", (double)r->fr.n);
        cJSON_AddNumberToObject(o, "n2", (double)r->fg.n);
        cJSON_AddStringToObject(o, "method", r->fid.method ? r->fid.method : "");
        cJSON_AddStringToObject(o, "protocol", cs_protocol_name((cs_protocol)cl->fo.protocol));
    }
    if (want[CS_METRIC_CMMD]) {
        cJSON *o = cJSON_AddObjectToObject(ms, "cmmd");
        add_num(o, "cmmd", r->cmmd.cmmd);
        add_num(o, "utility", -r->cmmd.cmmd);
        cJSON_AddNumberToObject(o, "n1", (double)r->fr.n);
        cJSON_AddNumberToObject(o, "n2", (double)r->fg.n);
        cJSON_AddStringToObject(o, "protocol", cs_protocol_name((cs_protocol)cl->fo.protocol));
    }
    if (cs_metrics_any_pixel(want)) {
        cJSON *arr = cJSON_AddArrayToObject(root, "per_image");
        for (size_t g = 0; g < r->pg.n; g++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "path", r->pg.paths[g]);
            for (int m = 0; m < CS_METRIC_N_PIXEL; m++)
                if (want[m]) add_num(o, cs_metric_name((cs_metric)m), r->per_gen[g * CS_METRIC_N_PIXEL + m]);
            cJSON_AddItemToArray(arr, o);
        }
    }
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!txt) return CS_FAIL(CS_E_NOMEM, "metrics: out of memory printing JSON");
    puts(txt);
    free(txt);
    return CS_OK;
}

/* One line per metric on stdout. */
static void cs_metrics_print_text(const cs_metrics_cli *cl, const cs_metrics_out *r) {
    const int *want = cl->want;
    if (cs_metrics_any_pixel(want))
        printf("# %zu generated x %zu reference images = %zu pairs (larger = closer)\n", r->pg.n, r->pr.n,
               r->pg.n * r->pr.n);
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++)
        if (want[m])
            printf("%-9s mean %.6f  min %.6f  max %.6f\n", cs_metric_name((cs_metric)m), r->score[m].mean,
                   r->score[m].min, r->score[m].max);
    if (want[CS_METRIC_KID])
        printf("kid       %.6g +- %.6g  (%d subsets of %lld; distance, utility = -kid)\n", r->kid.kid,
               r->kid.kid_std, r->kid.n_subsets, (long long)r->kid.subset_size);
    if (want[CS_METRIC_FID])
        printf("fid       %.6f  (%zu vs %zu images; distance, utility = -fid)\n", r->fid.fid, r->fr.n, r->fg.n);
    if (want[CS_METRIC_CMMD])
        printf("cmmd      %.6f  (%zu vs %zu images; distance, utility = -cmmd)\n", r->cmmd.cmmd, r->fr.n, r->fg.n);
    if (cl->want_isc)
        printf("isc       %.7g +- %.7g  (Inception Score of the %lld generated images, %d splits)\n", r->isc.isc,
               r->isc.isc_std, (long long)r->isc.n, r->isc.splits);
    if (want[CS_METRIC_KID] || want[CS_METRIC_FID] || want[CS_METRIC_CMMD] || cl->want_isc)
        printf("# features: protocol %s%s\n", cs_protocol_name((cs_protocol)cl->fo.protocol),
               want[CS_METRIC_KID] ? (cl->ko.sampler == CS_KID_SAMPLER_NUMPY ? ", KID subsets torch-fidelity's" : ", KID subsets copyscope's") : "");
}

static void cs_metrics_out_free(cs_metrics_out *r) {
    free(r->per_gen);
    cs_stats_free(r->sr);
    cs_stats_free(r->sg);
    cs_features_free(&r->fr);
    cs_features_free(&r->fg);
    free_set(&r->pr, r->ir);
    free_set(&r->pg, r->ig);
}

int cs_cmd_metrics(int argc, char **argv) {
    cs_metrics_cli cl;
    memset(&cl, 0, sizeof cl);
    int rc = cs_metrics_parse_args(argc, argv, &cl);
    if (rc >= 0) return rc;
    cs_status st = CS_OK;
    cs_metrics_out r;
    memset(&r, 0, sizeof r);
    cs_threadpool *pool = cs_threadpool_create(cl.threads);
    if (!pool) st = CS_E_NOMEM;
    if (st == CS_OK && cs_metrics_any_pixel(cl.want)) st = cs_metrics_pixel(&cl, pool, &r);
    if (st == CS_OK && (cl.want[CS_METRIC_KID] || cl.want[CS_METRIC_FID] || cl.want[CS_METRIC_CMMD] || cl.want_isc))
        st = cs_metrics_features(&cl, &r);
    if (st == CS_OK) {
        if (cl.json) st = cs_metrics_print_json(&cl, &r);
        else cs_metrics_print_text(&cl, &r);
    }
    cs_metrics_out_free(&r);
    cs_threadpool_free(pool);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    return CS_EXIT_OK;
}
