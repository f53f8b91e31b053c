/* The audit engine: features per set -> FID of every set vs the reference -> utilities ->
 * estimators -> (optional) bootstrap of all of it. See include/copyscope/audit.h. */
#include "copyscope/audit.h"
#include "copyscope/protocol.h"
#include "copyscope/model.h"
#include "copyscope/bias.h"
#include "copyscope/frechet.h"
#include "copyscope/interactions.h"
#include "copyscope/nearest.h"
#include "copyscope/stats.h"
#include "copyscope/statsfile.h"
#include "copyscope/weights.h"

#include "core/common.h"
#include "fid/fid_many.h"
#include "core/threadpool.h"

#include <math.h>
#include <string.h>

void cs_audit_options_default(cs_audit_options *o) {
    memset(o, 0, sizeof *o);
    cs_features_opts_default(&o->features);
    cs_utility_parse("fid-gain", &o->utility);
    cs_kid_opts_default(&o->kid);
    cs_cmmd_opts_default(&o->cmmd);
    o->estimator = -1;
    o->seed = 0;
    o->interval = CS_INTERVAL_DEFAULT;
    o->copy_threshold = CS_COPY_THRESHOLD_DEFAULT;
    o->nearest_k = 3;
    o->thumbnails = 8;
}

void cs_audit_free(cs_audit *a) {
    if (!a) return;
    free(a->coalitions);
    free(a->missing);
    for (size_t e = 0; e < a->n_estimates; e++) {
        cs_attribution_free(&a->estimates[e].a);
        free(a->estimates[e].ci);
    }
    free(a->estimates);
    free(a->nearest);
    if (a->row_paths)
        for (size_t k = 0; k <= a->n_coalitions; k++) cs_pathlist_free(&a->row_paths[k]);
    free(a->row_paths);
    free(a->interactions);
    free(a->interaction_ci);
    free(a);
}

const char *cs_audit_image_path(const cs_audit *a, size_t k, int64_t i) {
    const cs_audit_manifest *m = a->m;
    if (k > a->n_coalitions || i < 0) return NULL;
    const cs_audit_set_spec *sp = k < a->n_coalitions ? &m->sets[k] : &m->reference;
    if (sp->source == CS_AUDIT_IMAGES) return (size_t)i < sp->files.n ? sp->files.paths[i] : NULL;
    if (a->row_paths && (size_t)i < a->row_paths[k].n) return a->row_paths[k].paths[i];
    return NULL;
}

/* Rows of every set: pointers into the extraction buffer or into features files. */
typedef struct {
    cs_features all;        /* one extraction for every image of every set */
    cs_features *files;     /* (n_sets + 1) features read from files; [n_sets] = reference */
    const float **x;        /* (n_sets + 1) rows (n_k, d); [n_sets] = reference (NULL: stats) */
    int64_t *n;             /* (n_sets + 1) */
    cs_stats *ref_stats;    /* reference statistics */
} cs_audit_rows;

static void cs_audit_rows_free(cs_audit_rows *r, size_t n_sets) {
    cs_features_free(&r->all);
    if (r->files)
        for (size_t k = 0; k <= n_sets; k++) cs_features_free(&r->files[k]);
    free(r->files);
    free(r->x);
    free(r->n);
    cs_stats_free(r->ref_stats);
}

/* Weights identity: every known SHA-256 must agree. */
static cs_status cs_audit_note_sha(cs_audit *a, const char *sha, const char *what) {
    if (!sha || !sha[0]) return CS_OK;
    if (!a->weights_sha256[0]) {
        snprintf(a->weights_sha256, sizeof a->weights_sha256, "%s", sha);
        return CS_OK;
    }
    if (strcmp(a->weights_sha256, sha) != 0)
        return CS_FAIL(CS_E_MISMATCH, "%s: features come from other weights (SHA-256 %.12s..., "
                       "the others %.12s...): FIDs would not be comparable", what, sha, a->weights_sha256);
    return CS_OK;
}

/* Rows given by the caller (o->precomputed, e.g. merged shards) instead of an extraction. */
static cs_status cs_audit_copy_rows(const cs_features *src, size_t n, int protocol, cs_features *dst) {
    memset(dst, 0, sizeof *dst);
    if (src->n != n)
        return CS_FAIL(CS_E_MISMATCH, "precomputed features have %zu rows for %zu images", src->n, n);
    if (src->protocol != protocol)
        return CS_FAIL(CS_E_MISMATCH, "precomputed features are of protocol %s, this audit's is %s (use --protocol %s)",
                       cs_protocol_name((cs_protocol)src->protocol), cs_protocol_name((cs_protocol)protocol),
                       cs_protocol_name((cs_protocol)src->protocol));
    dst->data = cs_malloc(n * (size_t)src->dims * sizeof(float), "features"); /* (n, dims) float32 */
    if (!dst->data) return CS_E_NOMEM;
    memcpy(dst->data, src->data, n * (size_t)src->dims * sizeof(float));
    dst->n = n;
    dst->dims = src->dims;
    dst->n_from_cache = n;
    dst->protocol = protocol;
    snprintf(dst->weights_sha256, sizeof dst->weights_sha256, "%s", src->weights_sha256);
    return CS_OK;
}

static cs_status cs_audit_load(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                               cs_audit_rows *r) {
    const size_t ns = m->n_sets;
    r->files = cs_calloc(ns + 1, sizeof *r->files, "features");
    r->x = cs_calloc(ns + 1, sizeof *r->x, "row pointers");
    r->n = cs_calloc(ns + 1, sizeof *r->n, "row counts");
    if (!r->files || !r->x || !r->n) return CS_E_NOMEM;
    int dims = 0;
    /* 1. feature files and statistics */
    for (size_t k = 0; k <= ns; k++) {
        const cs_audit_set_spec *sp = k < ns ? &m->sets[k] : &m->reference;
        if (sp->source == CS_AUDIT_FEATURES) {
            /* with its /paths for the report's thumbnails and pairs; without when it has none */
            cs_status st = cs_features_file_read(sp->files.paths[0], 1, &r->files[k]);
            if (st != CS_OK) {
                cs_features_free(&r->files[k]);
                st = cs_features_file_read(sp->files.paths[0], 0, &r->files[k]);
            }
            if (st != CS_OK) return CS_FAIL(st, "%s: %s: %s", m->path, sp->label, cs_last_error());
            if (r->files[k].n < 2)
                return CS_FAIL(CS_E_FORMAT, "%s: %s: %s has %zu rows; the FID needs at least 2",
                               m->path, sp->label, sp->files.paths[0], r->files[k].n);
            r->x[k] = r->files[k].data;
            r->n[k] = (int64_t)r->files[k].n;
            if (dims && dims != r->files[k].dims)
                return CS_FAIL(CS_E_MISMATCH, "%s: %s: %d-dimensional features, other sets have %d",
                               m->path, sp->label, r->files[k].dims, dims);
            dims = r->files[k].dims;
            if (r->files[k].protocol != o->features.protocol) /* like dims: FIDs across protocols mean nothing */
                return CS_FAIL(CS_E_MISMATCH, "%s: %s: %s holds features of protocol %s, the audit's is %s (use --protocol %s)",
                               m->path, sp->label, sp->files.paths[0], cs_protocol_name((cs_protocol)r->files[k].protocol),
                               cs_protocol_name((cs_protocol)o->features.protocol),
                               cs_protocol_name((cs_protocol)r->files[k].protocol));
            CS_TRY(cs_audit_note_sha(a, r->files[k].weights_sha256, sp->files.paths[0]));
        } else if (sp->source == CS_AUDIT_STATS) {
            cs_status st = cs_stats_file_read(sp->files.paths[0], &r->ref_stats);
            if (st != CS_OK) return CS_FAIL(st, "%s: reference: %s", m->path, cs_last_error());
            if (dims && dims != r->ref_stats->d)
                return CS_FAIL(CS_E_MISMATCH, "%s: reference statistics have %d dims, sets have %d",
                               m->path, r->ref_stats->d, dims);
            dims = r->ref_stats->d;
            r->n[k] = r->ref_stats->n;
            CS_TRY(cs_audit_note_sha(a, r->ref_stats->id.weights_sha256, sp->files.paths[0]));
        }
    }
    /* 2. one extraction for all image sets (the feature cache makes repeats free) */
    cs_pathlist all = {0};
    cs_status st = CS_OK;
    for (size_t k = 0; k <= ns && st == CS_OK; k++) {
        const cs_audit_set_spec *sp = k < ns ? &m->sets[k] : &m->reference;
        if (sp->source != CS_AUDIT_IMAGES) continue;
        for (size_t i = 0; i < sp->files.n && st == CS_OK; i++) st = cs_pathlist_push(&all, sp->files.paths[i]);
    }
    if (st == CS_OK && all.n > 0) {
        if (dims && dims != o->features.dims) {
            cs_pathlist_free(&all);
            return CS_FAIL(CS_E_MISMATCH, "%s: features files have %d dims but images would be "
                           "extracted with %d (use --dims %d)", m->path, dims, o->features.dims, dims);
        }
        cs_features_opts fo = o->features;
        fo.skip_bad = 0; /* rows must map to sets one to one */
        fo.progress = o->progress;
        double t0 = cs_now();
        st = o->precomputed ? cs_audit_copy_rows(o->precomputed, all.n, o->features.protocol, &r->all)
                            : cs_features_extract(&all, &fo, &r->all);
        a->seconds_features = cs_now() - t0;
        if (st == CS_OK && r->all.n != all.n)
            st = CS_FAIL(CS_E_INTERNAL, "extraction returned %zu rows for %zu images", r->all.n, all.n);
        if (st == CS_OK) {
            dims = r->all.dims;
            a->n_images_from_cache = r->all.n_from_cache;
            a->n_images_computed = r->all.n_computed;
            st = cs_audit_note_sha(a, r->all.weights_sha256, "images");
        }
        size_t off = 0;
        for (size_t k = 0; k <= ns && st == CS_OK; k++) {
            const cs_audit_set_spec *sp = k < ns ? &m->sets[k] : &m->reference;
            if (sp->source != CS_AUDIT_IMAGES) continue;
            r->x[k] = r->all.data + off * (size_t)dims;
            r->n[k] = (int64_t)sp->files.n;
            off += sp->files.n;
        }
    }
    cs_pathlist_free(&all);
    CS_TRY(st);
    a->dims = dims;
    a->protocol = o->features.protocol;
    {
        cs_model_kind k = CS_MODEL_INCEPTION;
        (void)cs_model_kind_parse(o->features.model, &k);
        a->model = (int)k;
    }
    if (m->reference.source != CS_AUDIT_STATS) {
        CS_TRY(cs_stats_init(&r->ref_stats, dims));
        st = cs_stats_add_f32(r->ref_stats, r->x[ns], r->n[ns]);
        if (st != CS_OK) return CS_FAIL(st, "%s: reference: %s", m->path, cs_last_error());
    }
    a->n_reference = r->n[ns];
    return CS_OK;
}

/* FID of every set vs the reference (fid/fid_many.h): the low-rank method straight from the rows
 * when n_ref + n_set <= d, else the reference factored once and each set's statistics compared. */
static cs_status cs_audit_fids(const cs_audit_manifest *m, cs_audit *a, cs_audit_rows *r, cs_math *mb) {
    const size_t ns = m->n_sets;
    cs_fid_set *sets = cs_calloc(ns, sizeof *sets, "FID sets");     /* (ns) */
    cs_fid_result *res = cs_calloc(ns, sizeof *res, "FID results"); /* (ns) */
    if (!sets || !res) {
        free(sets), free(res);
        return CS_E_NOMEM;
    }
    cs_fid_set ref = {.label = "reference", .stats = r->ref_stats, .x = r->x[ns], .n = r->n[ns], .d = a->dims};
    for (size_t k = 0; k < ns; k++) sets[k] = (cs_fid_set){.x = r->x[k], .n = r->n[k], .d = a->dims};
    const cs_fid_many_opts fo = {.method = CS_FID_AUTO, .rows_ref = 0};
    double t0 = cs_now();
    size_t failed = ns;
    cs_status st = cs_fid_many(mb, &ref, sets, ns, &fo, res, &failed);
    if (st != CS_OK) {
        st = CS_FAIL(st, "%s: FID of %s: %s", m->path, failed < ns ? a->coalitions[failed].label : "the sets",
                     cs_last_error());
    } else {
        int mixed = 0;
        for (size_t k = 0; k < ns; k++) {
            a->coalitions[k].fid = res[k].fid;
            a->coalitions[k].method = res[k].method;
            if (k > 0 && strcmp(res[k].method, a->coalitions[0].method) != 0) mixed = 1;
        }
        a->fid_method = ns && !mixed ? a->coalitions[0].method : "mixed";
    }
    a->seconds_fid = cs_now() - t0;
    free(sets), free(res);
    return st;
}

static void cs_audit_pairs_free(double **pairs, size_t ns) {
    if (pairs)
        for (size_t k = 0; k < ns; k++) free(pairs[k]);
    free(pairs);
}

/* KID of every set vs the reference (the utility kid): needs the reference's rows. */
static cs_status cs_audit_kids(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                               cs_audit_rows *r) {
    const size_t ns = m->n_sets;
    if (!r->x[ns])
        return CS_FAIL(CS_E_USAGE, "%s: the kid utility needs the reference's features (its images or a "
                       "features .h5), not a statistics file", m->path);
    double t0 = cs_now();
    for (size_t k = 0; k < ns; k++) {
        cs_kid_result res;
        cs_status st = cs_kid_compute(r->x[ns], r->n[ns], r->x[k], r->n[k], a->dims, &o->kid, &res, NULL);
        if (st != CS_OK) return CS_FAIL(st, "%s: KID of %s: %s", m->path, a->coalitions[k].label, cs_last_error());
        a->coalitions[k].score = res.kid;
        a->coalitions[k].score_std = res.kid_std;
    }
    a->seconds_metric = cs_now() - t0;
    return CS_OK;
}

/* CMMD of every set vs the reference (the utility cmmd): needs the reference's rows. */
static cs_status cs_audit_cmmds(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                cs_audit_rows *r) {
    const size_t ns = m->n_sets;
    if (!r->x[ns])
        return CS_FAIL(CS_E_USAGE, "%s: the cmmd utility needs the reference's features (its images or a "
                       "features .h5), not a statistics file", m->path);
    cs_cmmd_opts co = o->cmmd;
    co.threads = o->threads;
    double t0 = cs_now();
    for (size_t k = 0; k < ns; k++) {
        cs_cmmd_result res;
        cs_status st = cs_cmmd_compute(r->x[ns], r->n[ns], r->x[k], r->n[k], a->dims, &co, &res);
        if (st != CS_OK) return CS_FAIL(st, "%s: CMMD of %s: %s", m->path, a->coalitions[k].label, cs_last_error());
        a->coalitions[k].score = res.cmmd;
    }
    a->seconds_metric = cs_now() - t0;
    return CS_OK;
}

/* Pixel-metric utilities: decode the reference once and each set in turn, score every
 * (generated, reference) pair; pairs[k] gets set k's (n_k, n_ref) similarity matrix. */
static cs_status cs_audit_pixel(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                double **pairs) {
    const size_t ns = m->n_sets;
    const char *mname = cs_metric_name(a->metric);
    if (o->precomputed)
        return CS_FAIL(CS_E_USAGE, "%s: the %s utility compares images; shards and partials hold features "
                       "(run it unsharded)", m->path, mname);
    for (size_t k = 0; k <= ns; k++) {
        const cs_audit_set_spec *sp = k < ns ? &m->sets[k] : &m->reference;
        if (sp->source != CS_AUDIT_IMAGES)
            return CS_FAIL(CS_E_USAGE, "%s: the %s utility compares images, but %s is a %s file (%s)", m->path,
                           mname, k < ns ? sp->label : "the reference",
                           sp->source == CS_AUDIT_STATS ? "statistics" : "features", sp->files.paths[0]);
    }
    int want[CS_METRIC_N_PIXEL] = {0};
    for (int i = 0; i < CS_METRIC_N_PIXEL; i++) want[i] = a->metric == CS_METRIC_FUSION || i == (int)a->metric;
    const int threads = o->features.threads > 0 ? o->features.threads : 0;
    cs_threadpool *pool = cs_threadpool_create(threads);
    if (!pool) return CS_FAIL(CS_E_NOMEM, "out of memory creating a thread pool");
    const size_t nref = m->reference.files.n;
    cs_image *ref = cs_calloc(nref, sizeof *ref, "reference images");
    cs_status *st_each = NULL;
    cs_image *gen = NULL;
    double *all = NULL;
    cs_status st = ref ? CS_OK : CS_E_NOMEM;
    double t0 = cs_now();
    if (st == CS_OK) {
        st_each = cs_calloc(nref, sizeof *st_each, "statuses");
        st = st_each ? cs_image_load_many(pool, (const char *const *)m->reference.files.paths, nref, ref, st_each, NULL)
                     : CS_E_NOMEM;
        free(st_each);
        st_each = NULL;
        if (st != CS_OK) st = CS_FAIL(st, "%s: reference: %s", m->path, cs_last_error());
    }
    for (size_t k = 0; k < ns && st == CS_OK; k++) {
        const cs_pathlist *fl = &m->sets[k].files;
        size_t np;
        if (!cs_mul_size(fl->n, nref, &np) || np > ((size_t)1 << 28)) {
            st = CS_FAIL(CS_E_USAGE, "%s: %s: %zu x %zu image pairs is too many for a pixel metric", m->path,
                         m->sets[k].label, fl->n, nref);
            break;
        }
        gen = cs_calloc(fl->n, sizeof *gen, "images");
        st_each = cs_calloc(fl->n, sizeof *st_each, "statuses");
        all = cs_malloc(np * CS_METRIC_N_PIXEL * sizeof(double), "pair similarities"); /* (n_k, nref, N_PIXEL) */
        pairs[k] = cs_malloc(np * sizeof(double), "pair similarities");                  /* (n_k, nref) */
        if (!gen || !st_each || !all || !pairs[k]) st = CS_E_NOMEM;
        if (st == CS_OK) {
            st = cs_image_load_many(pool, (const char *const *)fl->paths, fl->n, gen, st_each, NULL);
            if (st != CS_OK) st = CS_FAIL(st, "%s: %s: %s", m->path, m->sets[k].label, cs_last_error());
        }
        cs_metric_score sc[CS_METRIC_N_PIXEL];
        if (st == CS_OK) {
            st = cs_metric_set_pairs(want, ref, nref, gen, fl->n, pool, sc, NULL, all);
            if (st != CS_OK) st = CS_FAIL(st, "%s: %s: %s", m->path, m->sets[k].label, cs_last_error());
        }
        if (st == CS_OK) {
            for (size_t i = 0; i < np; i++) pairs[k][i] = all[i * CS_METRIC_N_PIXEL + a->metric];
            cs_audit_coalition *c = &a->coalitions[k];
            c->score = sc[a->metric].mean;
            c->score_min = sc[a->metric].min;
            c->score_max = sc[a->metric].max;
        }
        if (gen)
            for (size_t i = 0; i < fl->n; i++) cs_image_free(&gen[i]);
        free(gen), free(st_each), free(all);
        gen = NULL, st_each = NULL, all = NULL;
        if (o->progress) {
            fprintf(stderr, "\rcopyscope audit: %s, %zu/%zu sets (%.1f s)%s", mname, k + 1, ns, cs_now() - t0,
                    k + 1 == ns ? "\n" : "");
            fflush(stderr);
        }
    }
    if (ref)
        for (size_t i = 0; i < nref; i++) cs_image_free(&ref[i]);
    free(ref);
    cs_threadpool_free(pool);
    a->seconds_metric = cs_now() - t0;
    a->n_reference = (int64_t)nref;
    for (size_t k = 0; k < ns; k++) a->coalitions[k].n = (int64_t)m->sets[k].files.n;
    return st;
}

/* Utility fid-inf (issue 22): every coalition's FID becomes its FID-infinity estimate
 * (include/copyscope/bias.h), and with --bootstrap B every replicate's too (*rep: (B, ns), the
 * replicates of cs_bootstrap_fids' resamples). */
static cs_status cs_audit_fid_inf(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                  cs_audit_rows *r, double **rep) {
    const size_t ns = m->n_sets;
    if (!r->x[ns])
        return CS_FAIL(CS_E_USAGE, "%s: the fid-inf utility needs the reference's rows (its images or a features "
                       ".h5), not a statistics file", m->path);
    double *point = cs_malloc(2 * ns * sizeof(double), "FID-infinity"); /* (ns) points, (ns) plug-in FIDs */
    if (!point) return CS_E_NOMEM;
    if (o->bootstrap > 0) {
        *rep = cs_malloc((size_t)o->bootstrap * ns * sizeof(double), "FID-infinity replicates"); /* (B, ns) */
        if (!*rep) {
            free(point);
            return CS_E_NOMEM;
        }
    }
    cs_fid_inf_opts fo;
    cs_fid_inf_opts_default(&fo);
    double t0 = cs_now();
    cs_status st = cs_fid_inf_sets(r->x[ns], r->n[ns], (const float *const *)r->x, r->n, ns, a->dims, &fo, o->seed,
                                   o->bootstrap, o->threads, point, point + ns, *rep);
    if (st == CS_OK)
        for (size_t k = 0; k < ns; k++) a->coalitions[k].fid = point[k];
    /* The bootstrap world's population is the empirical distribution, whose FID is the plug-in FID
     * (point + ns), not the estimate: replicates of an unbiased estimator scatter around the
     * former. Re-centre them on the estimate; every utility and value is linear in the FIDs, so
     * their replicates move by the same amounts. */
    for (int b = 0; st == CS_OK && b < o->bootstrap; b++)
        for (size_t k = 0; k < ns; k++) (*rep)[(size_t)b * ns + k] += point[k] - point[ns + k];
    if (st != CS_OK) st = CS_FAIL(st, "%s: %s", m->path, cs_last_error());
    free(point);
    a->seconds_bootstrap += cs_now() - t0;
    return st;
}

/* Utilities from the metric's scores (k-th coalition's in score[k]); base = index of the empty
 * coalition. */
static cs_status cs_audit_game(const cs_audit_manifest *m, const cs_utility_spec *u, const double *score,
                               size_t base, cs_game **out) {
    CS_TRY(cs_game_create(m->n_players, (const char *const *)m->players, out));
    for (size_t k = 0; k < m->n_sets; k++) {
        double v = cs_utility_value(u, score[k], score[base]);
        cs_status st = cs_game_set(*out, m->sets[k].mask, v);
        if (st != CS_OK) {
            cs_game_free(*out);
            *out = NULL;
            return st;
        }
    }
    return CS_OK;
}

/* Estimators computed, primary first. */
static size_t cs_audit_estimator_list(const cs_audit_manifest *m, int chosen, uint64_t n_missing,
                                      cs_estimator *list) {
    size_t n = 0;
    int full = n_missing == 0 && m->n_players <= CS_GAME_MAX_FULL;
    if (chosen >= 0) list[n++] = (cs_estimator)chosen;
    cs_estimator dflt[5];
    size_t nd = 0;
    if (full) {
        dflt[nd++] = CS_EST_EXACT;
        dflt[nd++] = CS_EST_BANZHAF;
        dflt[nd++] = CS_EST_LOO;
        dflt[nd++] = CS_EST_PAPER;
    } else {
        dflt[nd++] = CS_EST_KERNELSHAP;
        dflt[nd++] = CS_EST_PAPER;
        dflt[nd++] = CS_EST_LOO;
    }
    for (size_t i = 0; i < nd; i++) {
        int dup = 0;
        for (size_t j = 0; j < n; j++) dup |= list[j] == dflt[i];
        if (!dup) list[n++] = dflt[i];
    }
    return n;
}

/* What cs_audit_run holds between its steps. */
typedef struct cs_audit_work {
    cs_audit_rows rows; /* feature utilities: every set's rows and the reference statistics */
    cs_math *mb;        /* feature utilities: the FID math for --device */
    double **pairs;     /* (ns) pixel utilities: set k's (n_k, n_ref) pair similarities */
    double *score;      /* (ns) each coalition's score (the utility's metric) */
    cs_game *game;      /* the measured coalitions' utilities */
    size_t base;        /* index of the empty coalition */
    double *inf_rep;    /* (B, ns) FID-infinity replicates (utility fid-inf), or NULL */
} cs_audit_work;

/* The options an audit accepts; a->metric from the utility. */
static cs_status cs_audit_check_options(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a) {
    if ((o->utility.kind != CS_UTILITY_GAIN && o->utility.kind != CS_UTILITY_ABS) ||
        !cs_metric_name_valid(o->utility.metric, &a->metric))
        return CS_FAIL(CS_E_USAGE, "the audit utility must be a metric's gain or value (fid-gain, neg-fid, kid, cmmd, "
                       "ssim, ...), not '%s'", o->utility.kind == CS_UTILITY_RAW ? "raw" : o->utility.metric);
    a->utility.is_distance = cs_metric_is_distance(a->metric);
    if (o->bootstrap < 0 || o->bootstrap > CS_AUDIT_MAX_BOOTSTRAP)
        return CS_FAIL(CS_E_USAGE, "--bootstrap must be 0..%d", CS_AUDIT_MAX_BOOTSTRAP);
    if (o->bootstrap > 0 && m->reference.source == CS_AUDIT_STATS)
        return CS_FAIL(CS_E_USAGE, "%s: --bootstrap resamples the reference images, but the reference "
                       "is a statistics file (give its images or a features .h5)", m->path);
    if (!isfinite(o->copy_threshold))
        return CS_FAIL(CS_E_USAGE, "--copy-threshold must be a finite number");
    if (o->nearest_k < 0 || o->nearest_k > CS_AUDIT_MAX_NEAREST)
        return CS_FAIL(CS_E_USAGE, "--nearest must be 0..%d", CS_AUDIT_MAX_NEAREST);
    if (o->thumbnails < 0 || o->thumbnails > CS_AUDIT_MAX_THUMBNAILS)
        return CS_FAIL(CS_E_USAGE, "--thumbnails must be 0..%d", CS_AUDIT_MAX_THUMBNAILS);
    return CS_OK;
}

/* One coalition per set, nothing measured yet (NaN). */
static cs_status cs_audit_coalitions_init(const cs_audit_manifest *m, cs_audit *a, cs_audit_work *w) {
    const size_t ns = m->n_sets;
    for (size_t k = 0; k < ns; k++)
        if (m->sets[k].mask == 0) w->base = k;
    a->coalitions = cs_calloc(ns, sizeof *a->coalitions, "coalitions");
    w->score = cs_calloc(ns, sizeof *w->score, "scores");
    w->pairs = cs_calloc(ns, sizeof *w->pairs, "pair matrices");
    if (!a->coalitions || !w->score || !w->pairs) return CS_E_NOMEM;
    a->n_coalitions = ns;
    for (size_t k = 0; k < ns; k++) {
        cs_audit_coalition *c = &a->coalitions[k];
        c->mask = m->sets[k].mask;
        c->label = m->sets[k].label;
        c->fid = c->fid_plain = c->score = c->score_min = c->score_max = c->score_std = NAN;
    }
    return CS_OK;
}

/* Features files' image paths (their /paths) for the report's thumbnails and pairs. */
static cs_status cs_audit_keep_row_paths(const cs_audit_manifest *m, cs_audit *a, cs_audit_rows *r) {
    const size_t ns = m->n_sets;
    a->row_paths = cs_calloc(ns + 1, sizeof *a->row_paths, "image paths");
    if (!a->row_paths) return CS_E_NOMEM;
    for (size_t k = 0; k <= ns; k++)
        if (r->files && r->files[k].paths.n == r->files[k].n) { /* moved: the audit owns them now */
            a->row_paths[k] = r->files[k].paths;
            memset(&r->files[k].paths, 0, sizeof r->files[k].paths);
        }
    return CS_OK;
}

/* Feature utilities (fid, kid): features of every set, FIDs on the --device's math backend, KIDs. */
static cs_status cs_audit_measure_features(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                           cs_audit_work *w) {
    const size_t ns = m->n_sets;
    /* 1. features */
    CS_TRY(cs_audit_load(m, o, a, &w->rows));
    CS_TRY(cs_audit_keep_row_paths(m, a, &w->rows));
    for (size_t k = 0; k < ns; k++) a->coalitions[k].n = w->rows.n[k];
    a->comparable_to_published = strcmp(a->weights_sha256, CS_WEIGHTS_OFFICIAL_SHA256) == 0;
    /* 2. FIDs (and KIDs); the FID math runs on the GPU when --device selects one */
    CS_TRY(cs_math_for_fid(o->features.device, CS_FID_AUTO, o->threads, &w->mb));
    snprintf(a->math_device, sizeof a->math_device, "%s", w->mb->iface->device_name(w->mb));
    if (o->progress) fprintf(stderr, "copyscope audit: FIDs of %zu sets vs the reference on %s\n", ns, a->math_device);
    CS_TRY(cs_audit_fids(m, a, &w->rows, w->mb));
    if (a->metric == CS_METRIC_KID) {
        if (o->progress) fprintf(stderr, "copyscope audit: KIDs of %zu sets vs the reference\n", ns);
        CS_TRY(cs_audit_kids(m, o, a, &w->rows));
    } else if (a->metric == CS_METRIC_CMMD) {
        if (o->progress) fprintf(stderr, "copyscope audit: CMMDs of %zu sets vs the reference\n", ns);
        CS_TRY(cs_audit_cmmds(m, o, a, &w->rows));
    } else {
        for (size_t k = 0; k < ns; k++) a->coalitions[k].fid_plain = a->coalitions[k].fid;
        if (o->fid_inf) /* issue 22: FID-infinity points and replicates (host/fid/bias.c) */
            CS_TRY(cs_audit_fid_inf(m, o, a, &w->rows, &w->inf_rep));
        for (size_t k = 0; k < ns; k++) a->coalitions[k].score = a->coalitions[k].fid;
    }
    return CS_OK;
}

/* The game of the measured coalitions, and the list of missing ones (small games). */
static cs_status cs_audit_table(const cs_audit_manifest *m, cs_audit *a, cs_audit_work *w) {
    const size_t ns = m->n_sets;
    for (size_t k = 0; k < ns; k++) w->score[k] = a->coalitions[k].score;
    CS_TRY(cs_audit_game(m, &a->utility, w->score, w->base, &w->game));
    for (size_t k = 0; k < ns; k++) cs_game_get(w->game, m->sets[k].mask, &a->coalitions[k].utility);
    if (m->n_players <= 62) {
        a->n_missing_total = cs_game_n_missing(w->game);
        if (m->n_players <= CS_GAME_MAX_FULL && a->n_missing_total > 0) {
            a->missing = cs_malloc((size_t)a->n_missing_total * sizeof(uint64_t), "missing coalitions");
            if (!a->missing) return CS_E_NOMEM;
            for (uint64_t s = 0; s < (1ull << m->n_players); s++) {
                double u;
                if (!cs_game_get(w->game, s, &u)) a->missing[a->n_missing++] = s;
            }
        }
    }
    return CS_OK;
}

/* Every estimator defined on the table, the chosen one (or the default) first. */
static cs_status cs_audit_estimators(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                     const cs_game *g) {
    cs_estimator list[8];
    size_t nl = cs_audit_estimator_list(m, o->estimator, a->n_missing_total, list);
    a->estimates = cs_calloc(nl, sizeof *a->estimates, "estimates");
    if (!a->estimates) return CS_E_NOMEM;
    cs_permutation_options po = {.seed = o->seed};
    for (size_t i = 0; i < nl; i++) {
        cs_audit_estimate *e = &a->estimates[a->n_estimates];
        cs_status s = cs_attribute(g, list[i], &po, &e->a);
        if (s != CS_OK) {
            if (i == 0 && o->estimator >= 0)
                return CS_FAIL(s, "%s: estimator %s: %s", m->path, cs_estimator_name(list[i]), cs_last_error());
            if (s != CS_E_USAGE && s != CS_E_NOTFOUND && s != CS_E_UNSUPPORTED) return s;
            cs_attribution_free(&e->a);
            memset(e, 0, sizeof *e);
            continue; /* not defined on this table (e.g. loo without every N \ i) */
        }
        a->n_estimates++;
    }
    if (a->n_estimates == 0)
        return CS_FAIL(CS_E_USAGE, "%s: no estimator is defined on the measured coalitions", m->path);
    a->primary = 0;
    return CS_OK;
}

/* ---- issue 18/19: nearest-reference similarity, interactions ---------------------------------- */

/* The similarity of every (generated, reference) pair (feature utilities: cosine of the rows, into
 * w->pairs; pixel utilities: the metric's pairs, already there), each image's nearest reference,
 * each coalition's nn-sim, copy-rate and k nearest pairs; the score of the nn-sim and copy-rate
 * utilities. */
static cs_status cs_audit_nearest_all(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                      cs_audit_work *w) {
    const size_t ns = m->n_sets;
    const int nearest_metric = cs_metric_is_nearest(a->metric);
    int64_t n_ref = a->n_reference;
    if (!cs_metric_is_pixel(a->metric)) {
        const cs_audit_rows *r = &w->rows;
        if (!r->x[ns]) {
            if (nearest_metric)
                return CS_FAIL(CS_E_USAGE, "%s: the %s utility compares images with the reference's images, but the "
                               "reference is a statistics file (give its images or a features .h5)", m->path,
                               cs_metric_name(a->metric));
            return CS_OK; /* no reference rows: no pairs in the report */
        }
        if (!nearest_metric && o->nearest_k == 0) return CS_OK;
        n_ref = r->n[ns];
        double t0 = cs_now();
        for (size_t k = 0; k < ns; k++) {
            size_t np;
            if (!cs_mul_size((size_t)r->n[k], (size_t)n_ref, &np) || np > CS_NEAREST_MAX_PAIRS)
                return CS_FAIL(CS_E_USAGE, "%s: %s: %lld x %lld image pairs is too many for nearest similarities",
                               m->path, m->sets[k].label, (long long)r->n[k], (long long)n_ref);
            w->pairs[k] = cs_malloc(np * sizeof(double), "pair similarities"); /* (n_k, n_ref) */
            if (!w->pairs[k]) return CS_E_NOMEM;
            CS_TRY(cs_cosine_pairs(r->x[k], r->n[k], r->x[ns], n_ref, a->dims, o->threads, w->pairs[k]));
        }
        if (nearest_metric) a->seconds_metric += cs_now() - t0;
        snprintf(a->similarity, sizeof a->similarity, "cosine similarity of the %d-d features", a->dims);
    } else {
        snprintf(a->similarity, sizeof a->similarity, "%s (pixel metric of the pair)", cs_metric_name(a->metric));
    }
    a->nearest = cs_calloc(ns, sizeof *a->nearest, "nearest pairs");
    if (!a->nearest) return CS_E_NOMEM;
    int64_t n_max = 1;
    for (size_t k = 0; k < ns; k++) n_max = a->coalitions[k].n > n_max ? a->coalitions[k].n : n_max;
    double *best = cs_malloc((size_t)n_max * sizeof(double), "nearest similarities"); /* (n_k) */
    int64_t *arg = cs_malloc((size_t)n_max * 2 * sizeof(int64_t), "nearest references"); /* (n_k) + (n_k) */
    if (!best || !arg) {
        free(best), free(arg);
        return CS_E_NOMEM;
    }
    const int kk = o->nearest_k < 0 ? 0 : o->nearest_k > CS_AUDIT_MAX_NEAREST ? CS_AUDIT_MAX_NEAREST : o->nearest_k;
    for (size_t k = 0; k < ns; k++) {
        const int64_t nk = a->coalitions[k].n;
        cs_audit_nearest *nr = &a->nearest[k];
        cs_nearest_rows(w->pairs[k], nk, n_ref, best, arg);
        cs_nearest_summary(best, nk, a->copy_threshold, &nr->nn_sim, &nr->copy_rate);
        /* the k best generated images: selection by decreasing similarity, ties by index */
        int64_t *taken = arg + nk;
        memset(taken, 0, (size_t)nk * sizeof *taken);
        nr->k = (int)(kk < nk ? kk : nk);
        for (int j = 0; j < nr->k; j++) {
            int64_t b = -1;
            for (int64_t g = 0; g < nk; g++)
                if (!taken[g] && (b < 0 || best[g] > best[b])) b = g;
            taken[b] = 1;
            nr->gen[j] = b;
            nr->ref[j] = arg[b];
            nr->sim[j] = best[b];
        }
        if (nearest_metric) a->coalitions[k].score = a->metric == CS_METRIC_NN_SIM ? nr->nn_sim : nr->copy_rate;
    }
    free(best), free(arg);
    return CS_OK;
}

/* Bootstrap scores of nn-sim / copy-rate: rep (B, ns). */
static cs_status cs_audit_bootstrap_nearest(const cs_audit_manifest *m, const cs_audit_options *o, const cs_audit *a,
                                            cs_audit_work *w, double *rep) {
    const size_t ns = m->n_sets;
    int64_t *nk = cs_malloc(ns * sizeof *nk, "set sizes");
    if (!nk) return CS_E_NOMEM;
    for (size_t k = 0; k < ns; k++) nk[k] = a->coalitions[k].n;
    const int nn = a->metric == CS_METRIC_NN_SIM;
    cs_status st = cs_bootstrap_nearest((const double *const *)w->pairs, a->n_reference, nk, ns, a->copy_threshold,
                                        o->bootstrap, o->seed, o->threads, nn ? rep : NULL, nn ? NULL : rep);
    free(nk);
    return st;
}

/* Pairwise interaction indices when every coalition is measured (point estimate). */
static cs_status cs_audit_interactions_point(const cs_audit_manifest *m, cs_audit *a, const cs_game *g) {
    const int np = m->n_players;
    if (a->n_missing_total != 0 || np < 2 || np > CS_GAME_MAX_FULL) return CS_OK;
    a->interactions = cs_malloc((size_t)np * np * sizeof(double), "interaction indices"); /* (np, np) */
    if (!a->interactions) return CS_E_NOMEM;
    return cs_interactions(g, a->interactions);
}

#define CS_AUDIT_MAX_BOOT_INTERACTIONS 10 /* players: np^2 2^np per replicate */

/* Their bootstrap intervals from the good replicates' utilities util (good, ns); col (good) scratch. */
static cs_status cs_audit_bootstrap_interactions(const cs_audit_manifest *m, cs_audit *a, const double *util,
                                                 size_t good, double *col) {
    const int np = m->n_players;
    const size_t ns = m->n_sets, nn = (size_t)np * (size_t)np;
    if (!a->interactions || np > CS_AUDIT_MAX_BOOT_INTERACTIONS) return CS_OK;
    const size_t full = (size_t)1 << np;
    double *v = cs_malloc(full * sizeof(double), "coalition table");        /* (2^np) */
    double *rep = cs_malloc(good * nn * sizeof(double), "interaction replicates"); /* (good, np, np) */
    a->interaction_ci = cs_calloc(nn, sizeof(cs_audit_ci), "interaction intervals");
    cs_status st = v && rep && a->interaction_ci ? CS_OK : CS_E_NOMEM;
    for (size_t r = 0; r < good && st == CS_OK; r++) {
        for (size_t k = 0; k < ns; k++) v[m->sets[k].mask] = util[r * ns + k];
        st = cs_interactions_table(np, v, rep + r * nn);
    }
    for (size_t c = 0; c < nn && st == CS_OK; c++) {
        for (size_t r = 0; r < good; r++) col[r] = rep[r * nn + c];
        cs_audit_ci_compute(col, good, a->interactions[c], a->interval, &a->interaction_ci[c]);
    }
    free(v), free(rep);
    return st;
}

/* Every replicate's score of every set: rep (B, ns), by the utility's metric. */
static cs_status cs_audit_bootstrap_scores(const cs_audit_manifest *m, const cs_audit_options *o,
                                           const cs_audit *a, cs_audit_work *w, double *rep) {
    const size_t ns = m->n_sets;
    const int B = o->bootstrap;
    const cs_audit_rows *rows = &w->rows;
    const float **sx = (const float **)rows->x;
    if (cs_metric_is_nearest(a->metric)) /* nn-sim, copy-rate (nearest.h): w->pairs are the similarities */
        return cs_audit_bootstrap_nearest(m, o, a, w, rep);
    if (cs_metric_is_pixel(a->metric)) {
        int64_t *nk = cs_malloc(ns * sizeof *nk, "set sizes");
        if (!nk) return CS_E_NOMEM;
        for (size_t k = 0; k < ns; k++) nk[k] = a->coalitions[k].n;
        cs_status st = cs_bootstrap_pair_means((const double *const *)w->pairs, a->n_reference, nk, ns, B, o->seed,
                                               o->threads, rep);
        free(nk);
        return st;
    }
    if (a->metric == CS_METRIC_KID)
        return cs_bootstrap_kids(rows->x[ns], rows->n[ns], sx, rows->n, ns, a->dims, &o->kid, B, o->seed, o->threads,
                                 rep);
    if (a->metric == CS_METRIC_CMMD)
        return cs_bootstrap_cmmds(rows->x[ns], rows->n[ns], sx, rows->n, ns, a->dims, &o->cmmd, B, o->seed,
                                  o->threads, rep);
    if (w->inf_rep) { /* fid-inf: its own replicates, made with its point estimates */
        memcpy(rep, w->inf_rep, (size_t)B * ns * sizeof(double));
        return CS_OK;
    }
    return cs_bootstrap_fids_on(w->mb, rows->x[ns], rows->n[ns], sx, rows->n, ns, a->dims, B, o->seed, o->progress,
                                rep);
}

/* Each replicate with finite scores: its utilities util (good, ns) and every estimator's values
 * vals (good, ne, np); rep (B, ns) is compacted to its good rows. *good = their count. */
static cs_status cs_audit_bootstrap_replicates(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                               const cs_audit_work *w, double *rep, double *util, double *vals,
                                               size_t *good) {
    const size_t ns = m->n_sets, np = (size_t)m->n_players, ne = a->n_estimates;
    *good = 0;
    for (int r = 0; r < o->bootstrap; r++) {
        const double *f = rep + (size_t)r * ns;
        int ok = 1;
        for (size_t k = 0; k < ns; k++) ok &= isfinite(f[k]);
        if (!ok) {
            a->bootstrap_failed++;
            continue;
        }
        cs_game *gr = NULL;
        CS_TRY(cs_audit_game(m, &a->utility, f, w->base, &gr));
        for (size_t k = 0; k < ns; k++) util[*good * ns + k] = cs_utility_value(&a->utility, f[k], f[w->base]);
        for (size_t e = 0; e < ne; e++) {
            cs_attribution at;
            memset(&at, 0, sizeof at);
            cs_permutation_options po = {.seed = o->seed};
            cs_status st = cs_attribute(gr, a->estimates[e].a.estimator, &po, &at);
            if (st != CS_OK) {
                cs_game_free(gr);
                return CS_FAIL(st, "bootstrap replicate %d: %s", r, cs_last_error());
            }
            memcpy(vals + (*good * ne + e) * np, at.values, np * sizeof(double));
            cs_attribution_free(&at);
        }
        cs_game_free(gr);
        /* compact the FID rows too */
        if (*good != (size_t)r) memmove(rep + *good * ns, f, ns * sizeof(double));
        (*good)++;
    }
    return CS_OK;
}

/* Intervals (a->interval's method, every method's in the CI records) of the scores, utilities and
 * values over the good replicates, each around its point estimate; col (good) scratch. */
static cs_status cs_audit_bootstrap_intervals(const cs_audit_manifest *m, cs_audit *a, const double *rep,
                                              const double *util, const double *vals, size_t good, double *col) {
    const size_t ns = m->n_sets, np = (size_t)m->n_players, ne = a->n_estimates;
    for (size_t k = 0; k < ns; k++) {
        cs_audit_coalition *c = &a->coalitions[k];
        for (size_t r = 0; r < good; r++) col[r] = rep[r * ns + k];
        cs_audit_ci_compute(col, good, c->score, a->interval, &c->score_ci);
        if (a->metric == CS_METRIC_FID) c->fid_ci = c->score_ci;
        else c->fid_ci.lo = c->fid_ci.hi = c->fid_ci.se = c->fid_ci.mean = NAN;
        for (size_t r = 0; r < good; r++) col[r] = util[r * ns + k];
        cs_audit_ci_compute(col, good, c->utility, a->interval, &c->utility_ci);
    }
    for (size_t e = 0; e < ne; e++) {
        a->estimates[e].ci = cs_calloc(np, sizeof(cs_audit_ci), "value intervals");
        if (!a->estimates[e].ci) return CS_E_NOMEM;
        for (size_t i = 0; i < np; i++) {
            for (size_t r = 0; r < good; r++) col[r] = vals[(r * ne + e) * np + i];
            cs_audit_ci_compute(col, good, a->estimates[e].a.values[i], a->interval, &a->estimates[e].ci[i]);
        }
    }
    return CS_OK;
}

/* The bootstrap: replicate scores, then utilities, estimators and intervals from them. */
static cs_status cs_audit_bootstrap(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit *a,
                                    cs_audit_work *w) {
    const int B = o->bootstrap;
    const size_t ns = m->n_sets, np = (size_t)m->n_players, ne = a->n_estimates;
    double *rep = cs_malloc((size_t)B * ns * sizeof(double), "bootstrap FIDs"); /* (B, ns) */
    /* (B, ne, np) values then (B, ns) utilities then (B) scratch */
    double *buf = cs_malloc(((size_t)B * (ne * np + ns) + (size_t)B) * sizeof(double), "bootstrap values");
    cs_status st = rep && buf ? CS_OK : CS_E_NOMEM;
    double t0 = cs_now();
    double *vals = buf;                             /* (B, ne, np) */
    double *util = buf ? buf + (size_t)B * ne * np : NULL; /* (B, ns) */
    double *col = util ? util + (size_t)B * ns : NULL;     /* (B) */
    size_t good = 0;
    if (st == CS_OK) st = cs_audit_bootstrap_scores(m, o, a, w, rep);
    if (st == CS_OK) st = cs_audit_bootstrap_replicates(m, o, a, w, rep, util, vals, &good);
    if (st == CS_OK && good < 2)
        st = CS_FAIL(CS_E_NUMERIC, "bootstrap: %d of %d replicates failed", a->bootstrap_failed, B);
    if (st == CS_OK) st = cs_audit_bootstrap_intervals(m, a, rep, util, vals, good, col);
    if (st == CS_OK) st = cs_audit_bootstrap_interactions(m, a, util, good, col);
    if (st == CS_OK) a->seconds_bootstrap += cs_now() - t0; /* fid-inf counted its own part */
    free(rep);
    free(buf);
    return st;
}

static void cs_audit_work_free(cs_audit_work *w, size_t ns) {
    cs_game_free(w->game);
    free(w->score);
    cs_audit_pairs_free(w->pairs, ns);
    cs_audit_rows_free(&w->rows, ns);
    cs_math_free(w->mb);
    free(w->inf_rep);
}

cs_status cs_audit_run(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit **out) {
    *out = NULL;
    cs_status st = CS_OK;
    cs_audit_work w;
    memset(&w, 0, sizeof w);
    cs_audit *a = cs_calloc(1, sizeof *a, "audit");
    if (!a) return CS_E_NOMEM;
    a->m = m;
    a->utility = o->utility;
    a->bootstrap = o->bootstrap;
    a->seed = o->seed;
    a->interval = (unsigned)o->interval < CS_INTERVAL_N ? o->interval : CS_INTERVAL_DEFAULT;
    a->fid_inf = o->fid_inf;
    a->copy_threshold = o->copy_threshold;
    a->thumbnails = o->thumbnails;
    const size_t ns = m->n_sets;
    CS_TRY_GOTO(st, cs_audit_check_options(m, o, a), fail);
    CS_TRY_GOTO(st, cs_audit_coalitions_init(m, a, &w), fail);
    if (cs_metric_is_pixel(a->metric)) {
        /* 1-2. pixel metrics: decoded images, no network */
        CS_TRY_GOTO(st, cs_audit_pixel(m, o, a, w.pairs), fail);
        a->fid_method = "none";
        for (size_t k = 0; k < ns; k++) a->coalitions[k].method = cs_metric_name(a->metric);
    } else {
        /* 1-2. features, FIDs (and KIDs) */
        CS_TRY_GOTO(st, cs_audit_measure_features(m, o, a, &w), fail);
    }
    /* 2b. nearest-reference similarities (the score of nn-sim and copy-rate; the report's pairs) */
    CS_TRY_GOTO(st, cs_audit_nearest_all(m, o, a, &w), fail);
    /* 3. game, missing coalitions */
    CS_TRY_GOTO(st, cs_audit_table(m, a, &w), fail);
    /* 4. estimators */
    CS_TRY_GOTO(st, cs_audit_estimators(m, o, a, w.game), fail);
    CS_TRY_GOTO(st, cs_audit_interactions_point(m, a, w.game), fail);
    /* 5. bootstrap */
    if (o->bootstrap > 0) CS_TRY_GOTO(st, cs_audit_bootstrap(m, o, a, &w), fail);
    *out = a;
    a = NULL;
    st = CS_OK;
fail: /* and success: a is NULL then */
    cs_audit_work_free(&w, ns);
    cs_audit_free(a);
    return st;
}
