/* copyscope fid: Fréchet Inception Distance between two (or more) sets, pytorch-fid compatible.
 *
 *   copyscope fid A B            prints "FID:  <value>" exactly like pytorch-fid
 *   copyscope fid REF A B C ...  one line per set, each against REF (REF is factored once)
 *   copyscope fid --save-stats A OUT.npz|OUT.h5
 *
 * Inputs go through cs_fid_load_input (also used by `stats` and `merge`). */
#include "cli.h"
#include "core/common.h"
#include "fid_input.h"
#include "fid/fid_many.h"

#include "copyscope/frechet.h"
#include "copyscope/protocol.h"
#include "copyscope/model.h"
#include "copyscope/statsfile.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- inputs ----------------------------------------------------------------------------------- */

void cs_fid_cli_opts_default(cs_fid_cli_opts *o) {
    memset(o, 0, sizeof *o);
    cs_features_opts_default(&o->feat);
    o->feat.progress = cs_cli_stderr_is_tty();
}

int cs_fid_cli_common_opt(const char *cmd, int c, const char *arg, cs_fid_cli_opts *o) {
    long v;
    switch (c) {
    case CS_OPT_WEIGHTS: o->feat.weights_path = arg; return 1;
    case CS_OPT_MODEL: {
        cs_model_kind k;
        if (!cs_model_kind_parse(arg, &k)) {
            cs_cli_usage_error(cmd, "--model must be inception, dinov2-vits14, dinov2-vitb14, dinov2-vitl14, "
                               "dinov2-vitg14 or clip-vitl14-336 (got '%s')", arg);
            return -1;
        }
        o->feat.model = k == CS_MODEL_INCEPTION ? NULL : arg;
        if (!o->dims_given) o->feat.dims = cs_model_kind_dims(k);
        return 1;
    }
    case CS_OPT_DIMS:
        if (!cs_cli_parse_int(cmd, "--dims", arg, 1, CS_STATS_MAX_DIMS, &v)) return -1;
        o->feat.dims = (int)v;
        o->dims_given = 1;
        return 1;
    case CS_OPT_BATCH:
        if (!cs_cli_parse_int(cmd, "--batch", arg, 1, 4096, &v)) return -1;
        o->feat.batch = (int)v;
        return 1;
    case CS_OPT_DEVICE: o->feat.device = arg; return 1;
    case CS_OPT_PRECISION:
        if (strcmp(arg, "fp32") != 0 && strcmp(arg, "tf32") != 0 && strcmp(arg, "fp16") != 0) {
            cs_cli_usage_error(cmd, "--precision must be fp32, tf32 or fp16 (got '%s')", arg);
            return -1;
        }
        o->feat.precision = arg;
        return 1;
    case CS_OPT_PROTOCOL: {
        cs_protocol p;
        if (cs_protocol_parse(arg, &p) != CS_OK) {
            cs_cli_usage_error(cmd, "--protocol: %s", cs_last_error());
            return -1;
        }
        o->feat.protocol = (int)p;
        return 1;
    }
    case CS_OPT_THREADS:
    case CS_OPT_NUM_WORKERS:
        if (!cs_cli_parse_int(cmd, "--threads", arg, 0, 1024, &v)) return -1;
        o->feat.threads = (int)v;
        return 1;
    case CS_OPT_CACHE: o->feat.cache_dir = arg; return 1;
    case CS_OPT_NO_CACHE: o->feat.use_cache = 0; return 1;
    case CS_OPT_SKIP_BAD: o->feat.skip_bad = 1; return 1;
    case CS_OPT_QUIET: o->feat.quiet = 1, o->feat.progress = 0; return 1;
    }
    return 0;
}

void cs_fid_input_free(cs_fid_input *in) {
    if (!in) return;
    cs_stats_free(in->stats);
    cs_features_free(&in->rows);
    memset(in, 0, sizeof *in);
}

cs_status cs_fid_input_stats(cs_fid_input *in, cs_stats **out) {
    if (!in->stats) {
        CS_TRY(cs_stats_init(&in->stats, in->d));
        in->stats->id = in->id;
        cs_status st = cs_stats_add_f32(in->stats, in->rows.data, in->n);
        if (st != CS_OK) return CS_FAIL(st, "%s: %s", in->path, cs_last_error());
    }
    *out = in->stats;
    return CS_OK;
}

cs_status cs_fid_load_input(const char *path, const cs_fid_cli_opts *o, int want_rows, cs_fid_input *in) {
    memset(in, 0, sizeof *in);
    in->path = path;
    cs_file_kind kind;
    cs_status st;
    CS_TRY(cs_file_kind_detect(path, &kind));
    switch (kind) {
    case CS_FILE_NPZ: st = cs_npz_read_stats(path, &in->stats); break;
    case CS_FILE_H5_STATS: st = cs_h5_read_stats(path, &in->stats); break;
    case CS_FILE_H5_FEATURES:
        st = cs_features_file_info(path, &in->n, &in->d, &in->id);
        if (st != CS_OK) break;
        if (want_rows == 2 || (want_rows == 1 && in->n <= in->d))
            st = cs_features_file_read(path, 0, &in->rows); /* statistics on demand */
        else
            st = cs_features_file_stats(path, &in->stats); /* streamed, O(d^2) memory */
        break;
    case CS_FILE_DIRECTORY: {
        /* a directory of images -> (cached) features -> statistics */
        cs_pathlist files;
        st = cs_pathlist_expand_listing(&path, 1, cs_protocol_listing((cs_protocol)o->feat.protocol), &files);
        if (st != CS_OK) return st;
        st = cs_features_extract(&files, &o->feat, &in->rows);
        cs_pathlist_free(&files);
        if (st == CS_OK) {
            if (!o->feat.quiet)
                fprintf(stderr, "%s: %zu images (%zu from cache, %zu computed)%s\n", path, in->rows.n,
                        in->rows.n_from_cache, in->rows.n_computed,
                        in->rows.skipped.n ? ", some skipped" : "");
            for (size_t i = 0; i < in->rows.skipped.n; i++)
                fprintf(stderr, "  skipped %s\n", in->rows.skipped_why[i]);
            st = cs_features_to_stats(&in->rows, &in->stats);
        }
        if (st == CS_OK && !(want_rows == 2 || (want_rows == 1 && in->stats->n <= in->stats->d)))
            cs_features_free(&in->rows);
        break;
    }
    default: return CS_FAIL(CS_E_FORMAT, "%s: unknown input kind", path);
    }
    if (st != CS_OK) {
        cs_fid_input_free(in);
        return st;
    }
    if (in->stats) {
        in->n = in->stats->cov_only ? 0 : in->stats->n;
        in->d = in->stats->d;
        in->id = in->stats->id;
    }
    if (o->dims_given && in->d != o->feat.dims) {
        int d = in->d;
        cs_fid_input_free(in);
        return CS_FAIL(CS_E_MISMATCH, "%s: has %d-dimensional features, --dims says %d", path, d,
                       o->feat.dims);
    }
    return CS_OK;
}

/* The input as a set of the FID engine (pointers into in). */
static cs_fid_set cs_fid_input_set(const cs_fid_input *in) {
    cs_fid_set s = {.label = in->path, .stats = in->stats, .x = in->rows.data, .n = in->n, .d = in->d,
                    .id = in->id};
    return s;
}

/* ---- output ------------------------------------------------------------------------------------ */

/* Python's repr(float) (and numpy's str(float64)): the shortest digits that round-trip, positional
 * when 1e-4 <= |v| < 1e16 (with ".0" if integral), else "d.ddde+XX". */
static void cs_format_pyfloat(double v, char *out, size_t cap) {
    if (isnan(v)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0.0) {
        snprintf(out, cap, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
        if (strtod(sci, NULL) == v) break;
    }
    /* sci = [-]D[.DDD]e[+-]XX */
    char digits[32];
    int nd = 0, neg = 0;
    const char *p = sci;
    if (*p == '-') neg = 1, p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    digits[nd] = 0;
    int e = atoi(p + 1);
    char *o = out;
    size_t left = cap;
#define CS_PUT(...)                                                                                \
    do {                                                                                           \
        int w_ = snprintf(o, left, __VA_ARGS__);                                                   \
        if (w_ < 0 || (size_t)w_ >= left) return;                                                  \
        o += w_;                                                                                   \
        left -= (size_t)w_;                                                                        \
    } while (0)
    if (neg) CS_PUT("-");
    if (e >= -4 && e < 16) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++) CS_PUT("%c", i < nd ? digits[i] : '0');
            CS_PUT(".");
            if (nd > e + 1) CS_PUT("%s", digits + e + 1);
            else CS_PUT("0");
        } else {
            CS_PUT("0.");
            for (int i = 0; i < -e - 1; i++) CS_PUT("0");
            CS_PUT("%s", digits);
        }
    } else {
        CS_PUT("%c", digits[0]);
        if (nd > 1) CS_PUT(".%s", digits + 1);
        CS_PUT("e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
#undef CS_PUT
}

/* The text of one warning of r; the not-PSD ones say how much was clamped. */
static void cs_warning_text(const cs_fid_result *r, unsigned bit, char *out, size_t cap) {
    int side = bit == CS_FID_WARN_NOT_PSD1 ? 0 : bit == CS_FID_WARN_NOT_PSD2 ? 1 : -1;
    if (side >= 0 && r->clamped[side] > 0.0)
        snprintf(out, cap, "set %d: covariance has negative eigenvalues (clamped to 0; the most "
                           "negative was -%.3g of the largest)",
                 side + 1, r->clamped[side]);
    else
        snprintf(out, cap, "%s", cs_fid_warning_text(bit));
}

static void cs_print_warnings(const char *label, const cs_fid_result *r) {
    char text[256];
    for (unsigned b = 0; b < CS_FID_WARN_COUNT; b++)
        if (r->warnings & (1u << b)) {
            cs_warning_text(r, 1u << b, text, sizeof text);
            fprintf(stderr, "copyscope fid: warning: %s%s%s\n", label ? label : "", label ? ": " : "",
                    text);
        }
}

/* The FID protocol of an input's features (NULL when unknown: a pytorch-fid .npz, a file without
 * the preprocessing attribute). */
static const char *cs_input_protocol(const cs_fid_input *in) {
    cs_protocol p;
    const char *pid = in->id.preprocessing[0] ? in->id.preprocessing : in->stats ? in->stats->id.preprocessing : "";
    return cs_protocol_from_preprocess_id(pid, &p) ? cs_protocol_name(p) : NULL;
}

static cJSON *cs_result_json(const cs_fid_result *r, const cs_fid_input *a, const cs_fid_input *b) {
    cJSON *o = cJSON_CreateObject();
    char num[64]; /* cJSON's own number printing is not round-trip exact: print the shortest repr */
    cs_format_pyfloat(r->fid, num, sizeof num);
    cJSON_AddRawToObject(o, "fid", num);
    /* n is unknown (null) for pytorch-fid .npz statistics */
    if (a->n == 0) cJSON_AddNullToObject(o, "n1");
    else cJSON_AddNumberToObject(o, "n1", (double)a->n);
    if (b->n == 0) cJSON_AddNullToObject(o, "n2");
    else cJSON_AddNumberToObject(o, "n2", (double)b->n);
    cJSON_AddNumberToObject(o, "dims", a->d);
    /* the feature space (model and preprocessing) when the inputs record it */
    const char *pre = a->id.preprocessing[0] ? a->id.preprocessing : b->id.preprocessing;
    if (pre[0]) cJSON_AddStringToObject(o, "extractor", pre);
    cJSON_AddStringToObject(o, "method", r->method);
    const char *pa = cs_input_protocol(a), *pb = cs_input_protocol(b);
    if (pa && pb && strcmp(pa, pb) != 0) { /* the extractor warning below says they differ */
        cJSON_AddStringToObject(o, "protocol1", pa);
        cJSON_AddStringToObject(o, "protocol2", pb);
    } else if (pa || pb)
        cJSON_AddStringToObject(o, "protocol", pa ? pa : pb);
    else
        cJSON_AddNullToObject(o, "protocol");
    cJSON *w = cJSON_AddArrayToObject(o, "warnings");
    char text[256];
    for (unsigned bit = 0; bit < CS_FID_WARN_COUNT; bit++)
        if (r->warnings & (1u << bit)) {
            cs_warning_text(r, 1u << bit, text, sizeof text);
            cJSON_AddItemToArray(w, cJSON_CreateString(text));
        }
    return o;
}

/* ---- command ------------------------------------------------------------------------------------ */

/* The dimension of a statistics or features file from its shapes alone (an HDF5 features file may
 * hold millions of rows); 0 for directories, or when it cannot be read here (loading it reports
 * why). */
static int cs_fid_peek_dims(const char *path) {
    cs_file_kind kind;
    int64_t n;
    int d = 0;
    cs_extractor_id id;
    if (cs_file_kind_detect(path, &kind) != CS_OK) return 0;
    if (kind == CS_FILE_H5_FEATURES && cs_features_file_info(path, &n, &d, &id) != CS_OK) return 0;
    if (kind == CS_FILE_NPZ && cs_npz_dims(path, &d) != CS_OK) return 0;
    return d;
}

cs_status cs_fid_precheck_dims(int np, char **paths, const cs_fid_cli_opts *o, int *peek) {
    int first = -1;
    for (int i = 0; i < np; i++) {
        peek[i] = cs_fid_peek_dims(paths[i]);
        if (!peek[i]) continue;
        if (o->dims_given && peek[i] != o->feat.dims)
            return CS_FAIL(CS_E_MISMATCH, "%s: has %d-dimensional features, --dims says %d", paths[i],
                           peek[i], o->feat.dims);
        if (first < 0) first = i;
        else if (peek[i] != peek[first])
            return CS_FAIL(CS_E_MISMATCH, "%s has %d-dimensional features, %s has %d", paths[first],
                           peek[first], paths[i], peek[i]);
    }
    return CS_OK;
}

/* A loaded input the FID can use: at least 2 samples when the count is known (named here, the
 * engine only knows "set 2"). */
static cs_status cs_fid_check_loaded(const cs_fid_input *in) {
    if (!(in->stats && in->stats->cov_only) && in->n < 2)
        return CS_FAIL(CS_E_USAGE, "%s: has %lld sample%s; the FID needs at least 2", in->path,
                       (long long)in->n, in->n == 1 ? "" : "s");
    return CS_OK;
}

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope fid A B [options]\n"
            "       copyscope fid REF A B C ... [options]   (each set against REF)\n"
            "       copyscope fid --save-stats A OUT.npz|OUT.h5\n\n"
            "Frechet Inception Distance, computed like pytorch-fid but without a general matrix\n"
            "square root (exact symmetric eigenvalue or low-rank methods, float64). A and B are\n"
            "pytorch-fid .npz statistics, copyscope HDF5 statistics, or HDF5 features files.\n"
            "Prints \"FID:  <value>\" exactly as pytorch-fid does.\n\n"
            "Options:\n"
            "      --method M      auto (default), eig, eig-ref, svd, lowrank or reference;\n"
            "                      auto uses lowrank when both sets have rows (image dirs or\n"
            "                      features files) and n1 + n2 <= dims, lowrank-ref when one\n"
            "                      set has fewer rows than dims, else the eigenvalue method\n"
            "      --json          print {\"fid\", \"n1\", \"n2\", \"dims\", \"extractor\" (when the inputs record\n"
            "                      their model and preprocessing), \"method\", \"protocol\" (of Inception\n"
            "                      features; null when unknown), \"warnings\", \"math_device\"}\n"
            "      --save-stats    write the statistics of A to OUT (pytorch-fid's option)\n"
            "The FID math runs on the --device too: on a GPU (cuSOLVER/cuBLAS, float64) for the\n"
            "methods auto, lowrank and eig-ref; eig, svd and reference run on the CPU.\n"
            "  -h, --help          this help\n" CS_FID_CLI_HELP "\n" CS_HELP_EXIT_CODES
            "Warnings (singular covariance when n < dims, ...) go to stderr.\n");
}

static int cs_fid_save_stats(const char *cmd, int argc, char **argv, const cs_fid_cli_opts *o) {
    if (argc != 2) return cs_cli_usage_error(cmd, "--save-stats takes exactly 2 paths: INPUT OUTPUT");
    if (access(argv[1], F_OK) == 0)
        return cs_cli_usage_error(cmd, "existing output file: %s", argv[1]);
    cs_fid_input in;
    cs_stats *s = NULL;
    cs_status st = cs_fid_load_input(argv[0], o, 0, &in);
    if (st == CS_OK) st = cs_fid_input_stats(&in, &s);
    if (st == CS_OK) st = cs_stats_file_write(argv[1], s);
    cs_fid_input_free(&in);
    return st == CS_OK ? CS_EXIT_OK : cs_cli_fail(cmd, st);
}

int cs_cmd_fid(int argc, char **argv) {
    const char *cmd = "fid";
    cs_fid_cli_opts o;
    cs_fid_cli_opts_default(&o);
    cs_fid_method method = CS_FID_AUTO;
    int json = 0, save_stats = 0;
    enum { OPT_JSON = 256, OPT_METHOD, OPT_SAVE_STATS };
    static const struct option longopts[] = {{"json", no_argument, 0, OPT_JSON},
                                             {"method", required_argument, 0, OPT_METHOD},
                                             {"save-stats", no_argument, 0, OPT_SAVE_STATS},
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
        case OPT_METHOD:
            if (cs_fid_method_parse(optarg, &method) != CS_OK)
                return cs_cli_usage_error(cmd, "%s", cs_last_error());
            break;
        case OPT_SAVE_STATS: save_stats = 1; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    int np = argc - optind;
    char **paths = argv + optind;
    if (save_stats) return cs_fid_save_stats(cmd, np, paths, &o);
    if (np < 2) return cs_cli_usage_error(cmd, "needs two inputs A B (or REF A B ...)");

    int want_rows = method == CS_FID_LOWRANK ? 2 : method == CS_FID_AUTO ? 1 : 0;
    /* the FID math runs where --device says (GPU: cuSOLVER/cuBLAS) for the methods the GPU has
     * (auto, lowrank, eig-ref); eig, svd and reference always run on the CPU (cs_math_for_fid) */
    cs_math *mb = NULL;
    cs_status st = cs_math_for_fid(o.feat.device, method, o.feat.threads, &mb);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    cs_fid_input *in = calloc((size_t)np, sizeof *in);
    if (!in) {
        cs_math_free(mb);
        return cs_cli_fail(cmd, CS_FAIL(CS_E_NOMEM, "out of memory"));
    }
    cs_fid_engine *eng = NULL;
    cs_fid_result *res = calloc((size_t)np, sizeof *res); /* res[i] for set i >= 1 */
    if (!res) st = CS_FAIL(CS_E_NOMEM, "out of memory");
    int *peek = calloc((size_t)np, sizeof *peek);
    if (st == CS_OK && !peek) st = CS_FAIL(CS_E_NOMEM, "out of memory");
    if (st == CS_OK) st = cs_fid_precheck_dims(np, paths, &o, peek);
    /* the reference stays loaded; each other set is loaded, compared and released in turn */
    st = st == CS_OK ? cs_fid_load_input(paths[0], &o, want_rows, &in[0]) : st;
    if (st == CS_OK) st = cs_fid_check_loaded(&in[0]);
    if (st == CS_OK) {
        cs_fid_set ref = cs_fid_input_set(&in[0]);
        cs_fid_many_opts fo = {.method = method, .n_sets = (size_t)np - 1, .rows_ref = 1};
        st = cs_fid_engine_create(mb, &ref, &fo, &eng);
    }
    /* groups of as many sets as the backend has threads: loaded in order (each set's dims checked
     * from its shape before its rows are read), compared at once (each on one BLAS thread: the
     * numbers do not depend on the group size), then released */
    int group = mb->iface->concurrency ? mb->iface->concurrency(mb) : 1;
    if (group < 1) group = 1;
    for (int i0 = 1; i0 < np && st == CS_OK; i0 += group) {
        const int i1 = i0 + group < np ? i0 + group : np;
        int loaded = i0, ready = i0; /* [i0, loaded) to free, [i0, ready) to compare */
        while (loaded < i1) {
            if (peek[loaded] && peek[loaded] != in[0].d) { /* before reading its rows */
                st = CS_FAIL(CS_E_MISMATCH, "%s has %d-dimensional features, %s has %d", paths[0], in[0].d,
                             paths[loaded], peek[loaded]);
                break;
            }
            if ((st = cs_fid_load_input(paths[loaded], &o, want_rows, &in[loaded])) != CS_OK) break;
            loaded++;
            if ((st = cs_fid_check_loaded(&in[loaded - 1])) != CS_OK) break;
            ready = loaded;
        }
        cs_fid_set gs[i1 - i0]; /* (group) */
        for (int i = i0; i < ready; i++) gs[i - i0] = cs_fid_input_set(&in[i]);
        size_t bad = 0;
        cs_status sc = st == CS_OK && ready > i0 ? cs_fid_engine_compare_many(eng, gs, (size_t)(ready - i0), res + i0, &bad) : CS_OK;
        if (st == CS_OK && sc != CS_OK)
            st = np > 2 ? CS_FAIL(sc, "%s: %s", paths[i0 + (int)bad], cs_last_error()) : sc;
        for (int i = i0; i < loaded; i++) {
            cs_stats_free(in[i].stats); /* keep only n, d and identity for the report */
            in[i].stats = NULL;
            cs_features_free(&in[i].rows);
        }
    }
    if (st == CS_OK) {
        cJSON *arr = json && np > 2 ? cJSON_CreateArray() : NULL;
        for (int i = 1; i < np; i++) {
            cs_print_warnings(np > 2 ? paths[i] : NULL, &res[i]);
            if (json) {
                cJSON *obj = cs_result_json(&res[i], &in[0], &in[i]);
                cJSON_AddStringToObject(obj, "math_device", mb->iface->device_name(mb));
                if (np > 2) {
                    cJSON_AddStringToObject(obj, "path", paths[i]);
                    cJSON_AddItemToArray(arr, obj);
                } else {
                    char *txt = cJSON_PrintUnformatted(obj);
                    printf("%s\n", txt ? txt : "{}");
                    free(txt);
                    cJSON_Delete(obj);
                }
            } else {
                char num[64];
                cs_format_pyfloat(res[i].fid, num, sizeof num);
                printf("FID:  %s\n", num);
            }
        }
        if (arr) {
            char *txt = cJSON_PrintUnformatted(arr);
            printf("%s\n", txt ? txt : "[]");
            free(txt);
            cJSON_Delete(arr);
        }
    }
    cs_fid_engine_free(eng);
    cs_math_free(mb);
    for (int i = 0; i < np; i++) cs_fid_input_free(&in[i]);
    free(in);
    free(res);
    free(peek);
    return st == CS_OK ? CS_EXIT_OK : cs_cli_fail(cmd, st);
}
