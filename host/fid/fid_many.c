/* The FID routes of the library: the backend for a --device and method, and many sets against one
 * reference (fid/fid_many.h). */
#include "fid/fid_many.h"

#include "core/common.h"
#include "fid/gpu_math.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cs_status cs_math_for_fid(const char *device, cs_fid_method method, int threads, cs_math **out) {
    *out = NULL;
    if (method == CS_FID_AUTO || method == CS_FID_LOWRANK || method == CS_FID_EIG_REF) {
        int gpu = -1;
        CS_TRY(cs_gpu_math_select(device, &gpu));
        if (gpu >= 0) return cs_math_cuda_create(gpu, out);
    }
    return cs_math_cpu_create(threads, out);
}

struct cs_fid_engine {
    cs_math *mb;
    cs_fid_set ref;
    cs_fid_many_opts o;
    cs_stats *ref_stats_own; /* built from ref.x when ref.stats is NULL */
    cs_math_ref *fref;       /* the reference factored once (several sets) */
};

cs_status cs_fid_engine_create(cs_math *mb, const cs_fid_set *ref, const cs_fid_many_opts *o,
                               cs_fid_engine **out) {
    *out = NULL;
    cs_fid_engine *e = cs_calloc(1, sizeof *e, "FID engine");
    if (!e) return CS_E_NOMEM;
    e->mb = mb;
    e->ref = *ref;
    e->o = *o;
    *out = e;
    return CS_OK;
}

void cs_fid_engine_free(cs_fid_engine *e) {
    if (!e) return;
    if (e->fref) e->mb->iface->ref_free(e->mb, e->fref);
    cs_stats_free(e->ref_stats_own);
    free(e);
}

static const char *cs_set_label(const cs_fid_set *s) { return s->label ? s->label : "set"; }

/* A set's statistics: given, or built from its rows on the CPU (*own is then the caller's to free;
 * a failure is prefixed with the set's label when it has one). */
static cs_status cs_fid_set_stats(const cs_fid_set *s, const cs_stats **st_out, cs_stats **own) {
    if (s->stats) {
        *st_out = s->stats;
        return CS_OK;
    }
    if (!*own) {
        if (!s->x) return CS_FAIL(CS_E_USAGE, "%s: neither statistics nor feature rows", cs_set_label(s));
        CS_TRY(cs_stats_init(own, s->d));
        (*own)->id = s->id;
        cs_status st = cs_stats_add_f32(*own, s->x, s->n);
        if (st != CS_OK && s->label) return CS_FAIL(st, "%s: %s", s->label, cs_last_error());
        if (st != CS_OK) return st;
    }
    *st_out = *own;
    return CS_OK;
}

/* The reference factored once, with the engine's method. */
static cs_status cs_fid_engine_ref(cs_fid_engine *e, const cs_stats *s1) {
    if (e->fref) return CS_OK;
    return e->mb->iface->ref_init(e->mb, s1, e->o.method, &e->fref);
}

cs_status cs_fid_engine_compare(cs_fid_engine *e, const cs_fid_set *set, cs_fid_result *res) {
    const cs_math_i *mi = e->mb->iface;
    const cs_fid_set *r = &e->ref;
    const cs_fid_method method = e->o.method;
    const int several = e->o.n_sets > 1;
    const float *x1 = r->x, *x2 = set->x;
    memset(res, 0, sizeof *res);
    if (r->d != set->d)
        return CS_FAIL(CS_E_MISMATCH, "%s has %d-dimensional features, %s has %d", cs_set_label(r), r->d,
                       cs_set_label(set), set->d);
    const int lowrank = method == CS_FID_LOWRANK || (method == CS_FID_AUTO && x1 && x2 && r->n + set->n <= r->d);
    if (lowrank) { /* straight from the rows: no d x d matrix at all */
        if (!x1 || !x2)
            return CS_FAIL(CS_E_USAGE, "the lowrank method needs the feature rows of both sets "
                                       "(features files, not statistics files)");
        CS_TRY(mi->lowrank(e->mb, x1, r->n, x2, set->n, r->d, res));
        if (r->id.weights_sha256[0] && set->id.weights_sha256[0] && !cs_extractor_id_equal(&r->id, &set->id))
            res->warnings |= CS_FID_WARN_EXTRACTOR;
        return CS_OK;
    }
    const cs_stats *s1 = NULL, *s2 = NULL;
    const int via_ref = several && method != CS_FID_REFERENCE;
    cs_status st = CS_OK;
    /* the reference's statistics and factorisation are made once, by the first set that needs
     * them, while cs_fid_many's other threads wait */
#pragma omp critical(cs_fid_engine_lazy)
    {
        st = cs_fid_set_stats(r, &s1, &e->ref_stats_own);
        if (st == CS_OK && via_ref) st = cs_fid_engine_ref(e, s1);
    }
    if (st != CS_OK) return st;
    if (method == CS_FID_AUTO && several && x2 && e->o.rows_ref) /* this set from its rows */
        return mi->ref_compare_features(e->mb, e->fref, x2, set->n, set->d, &set->id, res);
    cs_stats *own2 = NULL;
    st = cs_fid_set_stats(set, &s2, &own2);
    if (st == CS_OK) {
        /* with AUTO, rows of a set with fewer samples than dims select the exact one-sided
         * low-rank form (lowrank-ref) instead of a (d, d) eigenvalue problem */
        const int rows = method == CS_FID_AUTO && e->o.rows_ref;
        const float *r1 = rows ? x1 : NULL, *r2 = rows ? x2 : NULL;
        if (!several || method == CS_FID_REFERENCE) {
            st = mi->pair(e->mb, s1, r1, s2, r2, method, res);
        } else { /* several sets: the reference factored once */
            st = mi->ref_compare(e->mb, e->fref, s2, r2, res);
        }
    }
    cs_stats_free(own2);
    return st;
}

cs_status cs_fid_engine_compare_many(cs_fid_engine *e, const cs_fid_set *sets, size_t n_sets, cs_fid_result *res,
                                     size_t *failed) {
    /* Sets spread over the backend's threads, each result at its index; every op inside runs on
     * one BLAS thread (core/blas.h), so the numbers do not depend on the thread count. The first
     * failing set in set order is reported (messages are per thread: copied out). */
    if (failed) *failed = n_sets;
    int nt = e->mb->iface->concurrency ? e->mb->iface->concurrency(e->mb) : 1;
    if ((size_t)nt > n_sets) nt = (int)n_sets;
    cs_status st = CS_OK;
    size_t first_bad = n_sets;
    char msg[1024] = "";
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt > 1 ? nt : 1) if (nt > 1)
    for (size_t k = 0; k < n_sets; k++) {
        cs_status sk = cs_fid_engine_compare(e, &sets[k], &res[k]);
        if (sk != CS_OK) {
#pragma omp critical(cs_fid_many_fail)
            if (k < first_bad) {
                first_bad = k;
                st = sk;
                snprintf(msg, sizeof msg, "%s", cs_last_error());
            }
        }
    }
    if (st == CS_OK) return CS_OK;
    if (failed) *failed = first_bad;
    return CS_FAIL(st, "%s", msg);
}

cs_status cs_fid_many(cs_math *mb, const cs_fid_set *ref, const cs_fid_set *sets, size_t n_sets,
                      const cs_fid_many_opts *o, cs_fid_result *res, size_t *failed) {
    if (failed) *failed = n_sets;
    cs_fid_many_opts eo = *o;
    eo.n_sets = n_sets;
    cs_fid_engine *e = NULL;
    CS_TRY(cs_fid_engine_create(mb, ref, &eo, &e));
    cs_status st = cs_fid_engine_compare_many(e, sets, n_sets, res, failed);
    cs_fid_engine_free(e);
    return st;
}
