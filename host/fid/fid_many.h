/* The FID routes of the library (internal): which math backend runs a command's FID method on its
 * --device, FIDs of many sets against one reference with the method rule of `copyscope fid` and the
 * audit, and the audit bootstrap's FIDs on any backend. Callers (host/cli/cmd_fid.c,
 * host/attribution/audit.c) hold a cs_math and never branch on CPU vs GPU.
 *
 *   cs_math *mb;  cs_math_for_fid(device, method, threads, &mb);   // refuses as --device says
 *   cs_fid_many(mb, &ref, sets, n, &opts, res, &failed);           // or engine create/compare/free
 *   cs_math_free(mb);
 *
 * Method rule (per set, reference = set 1):
 *   1. dimensions differ: CS_E_MISMATCH naming both labels;
 *   2. lowrank (method LOWRANK, or AUTO with the rows of both and n_ref + n_set <= d): from the
 *      rows, ||C1 C2^T||_* (CS_E_USAGE without rows); extractor-mismatch warning as cs_fid_compute;
 *   3. AUTO, several sets, rows_ref, rows of the set: the reference factored once, the set compared
 *      from its rows (cs_fid_ref_compare_features: lowrank-ref when it has fewer rows than the rank);
 *   4. else from statistics (built from the rows on the CPU when not given; rows passed along
 *      with AUTO and rows_ref): one set (or method REFERENCE) -> one pair (cs_fid_compute);
 *      several -> the reference factored once (cs_fid_ref_init with the method), one compare each.
 * On the GPU the reference is factored by eig-ref (fid/gpu_math.h); the other steps are the same. */
#ifndef CS_FID_MANY_H
#define CS_FID_MANY_H

#include "fid/math_backend.h"

#include "copyscope/frechet.h"
#include "copyscope/stats.h"
#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The backend that runs the FID method `method` for --device `device`: the methods the GPU has
 * (AUTO, LOWRANK, EIG_REF) run on the device's first GPU when it names or finds one
 * (cs_gpu_math_select: CS_E_USAGE for a bad list, CS_E_UNSUPPORTED for cuda without GPU math),
 * else, and for every other method (device not read), on the CPU with `threads` (<= 0: all cores). */
cs_status cs_math_for_fid(const char *device, cs_fid_method method, int threads, cs_math **out);

/* One set: its statistics and/or its rows. Nothing is owned. */
typedef struct cs_fid_set {
    const char *label;     /* for messages (a path, a coalition); NULL: "set" */
    const cs_stats *stats; /* NULL: built from x when needed (then x is required) */
    const float *x;        /* (n, d) float32 rows, or NULL */
    int64_t n;             /* rows; 0 when unknown (statistics read from a pytorch-fid .npz) */
    int d;
    cs_extractor_id id;    /* who made the features ("" when unknown) */
} cs_fid_set;

typedef struct cs_fid_many_opts {
    cs_fid_method method; /* AUTO, EIG, EIG_REF, SVD, LOWRANK or REFERENCE */
    size_t n_sets;        /* sets to be compared: more than one factors the reference once */
    int rows_ref;         /* 1: rows of a set also select lowrank-ref (rule 3, `copyscope fid`);
                           * 0: rows serve the two-sided lowrank method only (the audit) */
} cs_fid_many_opts;

/* Many sets against one reference, one at a time (the caller may load each set just before its
 * compare and release it after). ref and mb must outlive the engine; *ref is copied (its
 * pointers are not). */
typedef struct cs_fid_engine cs_fid_engine;

cs_status cs_fid_engine_create(cs_math *mb, const cs_fid_set *ref, const cs_fid_many_opts *o,
                               cs_fid_engine **out);
cs_status cs_fid_engine_compare(cs_fid_engine *e, const cs_fid_set *set, cs_fid_result *res);
/* Sets [0, n_sets) at once over the backend's concurrency(), res[k] for set k; on failure the
 * first failing set in set order is reported and *failed (may be NULL) is its index, else n_sets. */
cs_status cs_fid_engine_compare_many(cs_fid_engine *e, const cs_fid_set *sets, size_t n_sets, cs_fid_result *res,
                                     size_t *failed);
void cs_fid_engine_free(cs_fid_engine *e); /* NULL is fine */

/* The same in one call: res (n_sets) gets each set's FID; on failure *failed (may be NULL) is the
 * index of the set that failed (n_sets when the failure is not one set's). o->n_sets is ignored. */
cs_status cs_fid_many(cs_math *mb, const cs_fid_set *ref, const cs_fid_set *sets, size_t n_sets,
                      const cs_fid_many_opts *o, cs_fid_result *res, size_t *failed);

/* The audit bootstrap's FIDs (cs_bootstrap_fids, audit.h) on any backend: the same streams and
 * draws (replicate r: the reference resample, then each set's), sets one at a time (one Gram
 * matrix alive), replicates in batches of the backend's preferred size; a resample whose
 * evaluation fails numerically gives NaN (excluded by the caller); any other error stops with its
 * message. host/fid/bootstrap.c. */
cs_status cs_bootstrap_fids_on(cs_math *mb, const float *ref, int64_t n_ref, const float *const *sets,
                               const int64_t *n_set, size_t n_sets, int d, int B, uint64_t seed,
                               int progress, double *rep_fid);

/* Delete-group jackknife of the FIDs (issue 22: bca's acceleration, studentized's standard
 * errors). Row i (of a sample, or of a replicate's resampled index list) is in group i mod G.
 * For r = -1 (the sample itself) and every bootstrap replicate r = 0..B-1 (cs_bootstrap_fids'
 * draws), jk[((r + 1) * 2 + side) * G * n_sets + g * n_sets + k] is the FID of set k with group g
 * of the reference's rows deleted (side 0) or of set k's rows deleted (side 1). B = 0: the sample
 * only. Needs G >= 2 and at least G + 2 rows in every sample. */
cs_status cs_jackknife_fids_on(cs_math *mb, const float *ref, int64_t n_ref, const float *const *sets,
                               const int64_t *n_set, size_t n_sets, int d, int G, int B, uint64_t seed,
                               double *jk);
/* m-out-of-n subsampling without replacement: rep (B, n_sets) gets replicate r's FID of set k
 * between floor(frac n_ref + 1e-9) reference rows (one subset per replicate, shared by all sets)
 * and floor(frac n_k + 1e-9) rows of set k; subsets are partial Fisher-Yates draws of the streams
 * cs_rng_init(seed ^ CS_SUBSAMPLE_SALT, r (n_sets + 1)) (reference) and that + 1 + k (set k). */
#define CS_SUBSAMPLE_SALT 0x5851F42D4C957F2Dull
cs_status cs_subsample_fids_on(cs_math *mb, const float *ref, int64_t n_ref, const float *const *sets,
                               const int64_t *n_set, size_t n_sets, int d, int B, double frac, uint64_t seed,
                               double *rep);

#ifdef __cplusplus
}
#endif
#endif
