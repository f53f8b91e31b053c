/* The audit engine: features per set -> FID of every set vs the reference -> utilities ->
 * estimators -> (optional) bootstrap of all of it. See include/copyscope/audit.h. */
#include "copyscope/audit.h"
#include "copyscope/frechet.h"
#include "copyscope/stats.h"
#include "copyscope/statsfile.h"
#include "copyscope/weights.h"

#include "common.h"

#include <math.h>
#include <string.h>

void cs_audit_options_default(cs_audit_options *o) {
    memset(o, 0, sizeof *o);
    cs_features_opts_default(&o->features);
    o->utility = CS_UTILITY_FID_GAIN;
    o->estimator = -1;
    o->seed = 0;
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
    free(a);
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
static cs_status cs_audit_copy_rows(const cs_features *src, size_t n, cs_features *dst) {
    memset(dst, 0, sizeof *dst);
    if (src->n != n)
        return CS_FAIL(CS_E_MISMATCH, "precomputed features have %zu rows for %zu images", src->n, n);
    dst->data = cs_malloc(n * (size_t)src->dims * sizeof(float), "features"); /* (n, dims) float32 */
    if (!dst->data) return CS_E_NOMEM;
    memcpy(dst->data, src->data, n * (size_t)src->dims * sizeof(float));
    dst->n = n;
    dst->dims = src->dims;
    dst->n_from_cache = n;
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
            cs_status st = cs_features_file_read(sp->files.paths[0], 0, &r->files[k]);
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
        st = o->precomputed ? cs_audit_copy_rows(o->precomputed, all.n, &r->all)
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
    if (m->reference.source != CS_AUDIT_STATS) {
        CS_TRY(cs_stats_init(&r->ref_stats, dims));
        st = cs_stats_add_f32(r->ref_stats, r->x[ns], r->n[ns]);
        if (st != CS_OK) return CS_FAIL(st, "%s: reference: %s", m->path, cs_last_error());
    }
    a->n_reference = r->n[ns];
    return CS_OK;
}

/* FID of every set vs the reference, routed like `copyscope fid REF SET...`: the low-rank
 * method straight from the rows when n_ref + n_set <= d, else the reference factored once. */
static cs_status cs_audit_fids(const cs_audit_manifest *m, cs_audit *a, cs_audit_rows *r) {
    const size_t ns = m->n_sets;
    const int d = a->dims;
    cs_fid_ref *ref = NULL;
    cs_status st = CS_OK;
    double t0 = cs_now();
    int mixed = 0;
    for (size_t k = 0; k < ns && st == CS_OK; k++) {
        cs_fid_result res;
        cs_audit_coalition *c = &a->coalitions[k];
        if (r->x[ns] && r->n[ns] + r->n[k] <= d) {
            st = cs_fid_lowrank(r->x[ns], r->n[ns], r->x[k], r->n[k], d, &res);
        } else {
            cs_stats *s = NULL;
            st = cs_stats_init(&s, d);
            if (st == CS_OK) st = cs_stats_add_f32(s, r->x[k], r->n[k]);
            if (st == CS_OK && !ref) st = cs_fid_ref_init(&ref, r->ref_stats, CS_FID_AUTO);
            if (st == CS_OK) st = cs_fid_ref_compare(ref, s, &res);
            cs_stats_free(s);
        }
        if (st != CS_OK) {
            st = CS_FAIL(st, "%s: FID of %s: %s", m->path, c->label, cs_last_error());
            break;
        }
        c->fid = res.fid;
        c->method = res.method;
        if (k > 0 && strcmp(res.method, a->coalitions[0].method) != 0) mixed = 1;
    }
    cs_fid_ref_free(ref);
    a->seconds_fid = cs_now() - t0;
    a->fid_method = ns && !mixed ? a->coalitions[0].method : "mixed";
    return st;
}

/* Utilities from FIDs (k-th coalition's FID in fid[k]); base = index of the empty coalition. */
static cs_status cs_audit_game(const cs_audit_manifest *m, cs_utility_kind u, const double *fid,
                               size_t base, cs_game **out) {
    CS_TRY(cs_game_create(m->n_players, (const char *const *)m->players, out));
    for (size_t k = 0; k < m->n_sets; k++) {
        double v = u == CS_UTILITY_NEG_FID ? -fid[k] : fid[base] - fid[k];
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

cs_status cs_audit_run(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit **out) {
    *out = NULL;
    cs_status st = CS_OK;
    cs_audit_rows rows;
    memset(&rows, 0, sizeof rows);
    cs_game *g = NULL;
    double *rep_fid = NULL, *buf = NULL;
    double *fid = NULL;
    cs_audit *a = cs_calloc(1, sizeof *a, "audit");
    if (!a) return CS_E_NOMEM;
    a->m = m;
    a->utility = o->utility;
    a->bootstrap = o->bootstrap;
    a->seed = o->seed;
    const size_t ns = m->n_sets;
    size_t base = 0;
    for (size_t k = 0; k < ns; k++)
        if (m->sets[k].mask == 0) base = k;
    if (o->utility != CS_UTILITY_FID_GAIN && o->utility != CS_UTILITY_NEG_FID) {
        st = CS_FAIL(CS_E_USAGE, "the audit utility must be fid-gain or neg-fid");
        goto fail;
    }
    if (o->bootstrap < 0 || o->bootstrap > CS_AUDIT_MAX_BOOTSTRAP) {
        st = CS_FAIL(CS_E_USAGE, "--bootstrap must be 0..%d", CS_AUDIT_MAX_BOOTSTRAP);
        goto fail;
    }
    if (o->bootstrap > 0 && m->reference.source == CS_AUDIT_STATS) {
        st = CS_FAIL(CS_E_USAGE, "%s: --bootstrap resamples the reference images, but the reference "
                     "is a statistics file (give its images or a features .h5)", m->path);
        goto fail;
    }
    a->coalitions = cs_calloc(ns, sizeof *a->coalitions, "coalitions");
    fid = cs_calloc(ns, sizeof *fid, "FIDs");
    if (!a->coalitions || !fid) {
        st = CS_E_NOMEM;
        goto fail;
    }
    a->n_coalitions = ns;
    for (size_t k = 0; k < ns; k++) {
        a->coalitions[k].mask = m->sets[k].mask;
        a->coalitions[k].label = m->sets[k].label;
    }
    /* 1. features */
    CS_TRY_GOTO(st, cs_audit_load(m, o, a, &rows), fail);
    for (size_t k = 0; k < ns; k++) a->coalitions[k].n = rows.n[k];
    a->comparable_to_published = strcmp(a->weights_sha256, CS_WEIGHTS_OFFICIAL_SHA256) == 0;
    /* 2. FIDs */
    if (o->progress) fprintf(stderr, "copyscope audit: FIDs of %zu sets vs the reference\n", ns);
    CS_TRY_GOTO(st, cs_audit_fids(m, a, &rows), fail);
    for (size_t k = 0; k < ns; k++) fid[k] = a->coalitions[k].fid;
    /* 3. game, missing coalitions */
    CS_TRY_GOTO(st, cs_audit_game(m, o->utility, fid, base, &g), fail);
    for (size_t k = 0; k < ns; k++) cs_game_get(g, m->sets[k].mask, &a->coalitions[k].utility);
    if (m->n_players <= 62) {
        a->n_missing_total = cs_game_n_missing(g);
        if (m->n_players <= CS_GAME_MAX_FULL && a->n_missing_total > 0) {
            a->missing = cs_malloc((size_t)a->n_missing_total * sizeof(uint64_t), "missing coalitions");
            if (!a->missing) {
                st = CS_E_NOMEM;
                goto fail;
            }
            for (uint64_t s = 0; s < (1ull << m->n_players); s++) {
                double u;
                if (!cs_game_get(g, s, &u)) a->missing[a->n_missing++] = s;
            }
        }
    }
    /* 4. estimators */
    {
        cs_estimator list[8];
        size_t nl = cs_audit_estimator_list(m, o->estimator, a->n_missing_total, list);
        a->estimates = cs_calloc(nl, sizeof *a->estimates, "estimates");
        if (!a->estimates) {
            st = CS_E_NOMEM;
            goto fail;
        }
        cs_permutation_options po = {.seed = o->seed};
        for (size_t i = 0; i < nl; i++) {
            cs_audit_estimate *e = &a->estimates[a->n_estimates];
            cs_status s = cs_attribute(g, list[i], &po, &e->a);
            if (s != CS_OK) {
                if (i == 0 && o->estimator >= 0) {
                    st = CS_FAIL(s, "%s: estimator %s: %s", m->path, cs_estimator_name(list[i]),
                                 cs_last_error());
                    goto fail;
                }
                if (s != CS_E_USAGE && s != CS_E_NOTFOUND && s != CS_E_UNSUPPORTED) {
                    st = s;
                    goto fail;
                }
                cs_attribution_free(&e->a);
                memset(e, 0, sizeof *e);
                continue; /* not defined on this table (e.g. loo without every N \ i) */
            }
            a->n_estimates++;
        }
        if (a->n_estimates == 0) {
            st = CS_FAIL(CS_E_USAGE, "%s: no estimator is defined on the measured coalitions",
                         m->path);
            goto fail;
        }
        a->primary = 0;
    }
    /* 5. bootstrap */
    if (o->bootstrap > 0) {
        const int B = o->bootstrap;
        const size_t np = (size_t)m->n_players, ne = a->n_estimates;
        rep_fid = cs_malloc((size_t)B * ns * sizeof(double), "bootstrap FIDs"); /* (B, ns) */
        /* (B, ne, np) values then (B) scratch */
        buf = cs_malloc(((size_t)B * (ne * np + ns) + (size_t)B) * sizeof(double), "bootstrap values");
        if (!rep_fid || !buf) {
            st = CS_E_NOMEM;
            goto fail;
        }
        const float **sx = (const float **)rows.x;
        double t0 = cs_now();
        CS_TRY_GOTO(st, cs_bootstrap_fids(rows.x[ns], rows.n[ns], sx, rows.n, ns, a->dims, B, o->seed,
                                          o->threads, o->progress, rep_fid), fail);
        double *vals = buf;                          /* (B, ne, np) */
        double *util = buf + (size_t)B * ne * np;    /* (B, ns) */
        double *col = util + (size_t)B * ns;         /* (B) */
        size_t good = 0;
        for (int r = 0; r < B; r++) {
            const double *f = rep_fid + (size_t)r * ns;
            int ok = 1;
            for (size_t k = 0; k < ns; k++) ok &= isfinite(f[k]);
            if (!ok) {
                a->bootstrap_failed++;
                continue;
            }
            cs_game *gr = NULL;
            CS_TRY_GOTO(st, cs_audit_game(m, o->utility, f, base, &gr), fail);
            for (size_t k = 0; k < ns; k++)
                util[good * ns + k] = o->utility == CS_UTILITY_NEG_FID ? -f[k] : f[base] - f[k];
            for (size_t e = 0; e < ne; e++) {
                cs_attribution at;
                memset(&at, 0, sizeof at);
                cs_permutation_options po = {.seed = o->seed};
                st = cs_attribute(gr, a->estimates[e].a.estimator, &po, &at);
                if (st != CS_OK) {
                    cs_game_free(gr);
                    st = CS_FAIL(st, "bootstrap replicate %d: %s", r, cs_last_error());
                    goto fail;
                }
                memcpy(vals + (good * ne + e) * np, at.values, np * sizeof(double));
                cs_attribution_free(&at);
            }
            cs_game_free(gr);
            /* compact the FID rows too */
            if (good != (size_t)r) memmove(rep_fid + good * ns, f, ns * sizeof(double));
            good++;
        }
        if (good < 2) {
            st = CS_FAIL(CS_E_NUMERIC, "bootstrap: %d of %d replicates failed", a->bootstrap_failed, B);
            goto fail;
        }
        for (size_t k = 0; k < ns; k++) {
            for (size_t r = 0; r < good; r++) col[r] = rep_fid[r * ns + k];
            cs_ci_compute(col, good, &a->coalitions[k].fid_ci);
            for (size_t r = 0; r < good; r++) col[r] = util[r * ns + k];
            cs_ci_compute(col, good, &a->coalitions[k].utility_ci);
        }
        for (size_t e = 0; e < ne; e++) {
            a->estimates[e].ci = cs_calloc(np, sizeof(cs_audit_ci), "value intervals");
            if (!a->estimates[e].ci) {
                st = CS_E_NOMEM;
                goto fail;
            }
            for (size_t i = 0; i < np; i++) {
                for (size_t r = 0; r < good; r++) col[r] = vals[(r * ne + e) * np + i];
                cs_ci_compute(col, good, &a->estimates[e].ci[i]);
            }
        }
        a->seconds_bootstrap = cs_now() - t0;
    }
    cs_game_free(g);
    free(rep_fid);
    free(buf);
    free(fid);
    cs_audit_rows_free(&rows, ns);
    *out = a;
    return CS_OK;
fail:
    cs_game_free(g);
    free(rep_fid);
    free(buf);
    free(fid);
    cs_audit_rows_free(&rows, ns);
    cs_audit_free(a);
    return st;
}
