/* copyscope: sharding work over many processes (Slurm job arrays, several machines).
 *
 * A shard spec "I/N" names the I-th (0-based, 0 <= I < N) of N slices of a file list. The list
 * is the expanded, sorted list of `copyscope features|stats` (cs_pathlist_expand), or for an
 * audit the images of every image set in manifest order followed by the reference images (the
 * order cs_audit_run extracts them). Slices are CONTIGUOUS blocks: shard I holds the files
 * [floor(I n / N), floor((I + 1) n / N)), so concatenating the shards' rows in shard order gives
 * the unsharded rows in the same order. The split depends only on (n, I, N), never on the
 * machine. When N > n some shards are empty; an empty shard still writes its file (0 rows /
 * n = 0 statistics), which merges as a no-op, so "all N parts present" stays checkable.
 *
 * "auto" reads a Slurm array task: I = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN,
 * N = SLURM_ARRAY_TASK_COUNT. "auto/N" uses I = SLURM_ARRAY_TASK_ID with N given: the form the
 * scripts of `copyscope slurm submit` use, because a resubmission of only some shards
 * (--array=2,4) must keep their indices. Outside an array both fail with CS_E_USAGE (exit 2). */
#ifndef COPYSCOPE_SHARD_H
#define COPYSCOPE_SHARD_H

#include "copyscope/audit.h"
#include "copyscope/features.h"
#include "copyscope/status.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_SHARD_MAX 1000000 /* shards in one split */

typedef struct cs_shard {
    long index; /* 0-based */
    long count; /* N >= 1; 0 = not sharded */
} cs_shard;

/* Parse "I/N", "auto" or "auto/N" (environment read for auto). */
cs_status cs_shard_parse(const char *spec, cs_shard *out);
/* The block [*begin, *end) of shard s over n items. */
void cs_shard_range(cs_shard s, size_t n, size_t *begin, size_t *end);
/* out = the paths of shard s of in (copies; out may be empty). */
cs_status cs_pathlist_shard(const cs_pathlist *in, cs_shard s, cs_pathlist *out);
/* "DIR/part-I-of-N.h5" into buf. */
cs_status cs_shard_part_path(const char *dir, cs_shard s, char *buf, size_t cap);

/* An empty features result (0 rows of dims columns), for empty shards. */
void cs_features_init_empty(cs_features *f, int dims);

/* ---- audits --------------------------------------------------------------------------------- */

/* Every image of the manifest's image sets in manifest order, then the reference's images. */
cs_status cs_audit_image_list(const cs_audit_manifest *m, cs_pathlist *out);
/* Extract shard s of cs_audit_image_list(m) and write it to DIR/part-I-of-N.h5 (features file;
 * DIR is created). *n_rows gets the shard's image count (may be NULL). */
cs_status cs_audit_shard_extract(const cs_audit_manifest *m, const cs_features_opts *fo, cs_shard s,
                                 const char *dir, size_t *n_rows);
/* Read DIR/part-*-of-N.h5: all N must be present (one N only), come from one extractor (weights
 * SHA-256 and dims) and their paths, concatenated, must be cs_audit_image_list(m). out gets the
 * concatenated rows, usable as cs_audit_options.precomputed. */
cs_status cs_audit_partials_read(const cs_audit_manifest *m, const char *dir, cs_features *out);
/* Which of the N parts exist in DIR: present[i] = 1/0 ((N) ints, caller's). N = 0 on input:
 * found from the file names (fails if none or several N). */
cs_status cs_shard_parts_scan(const char *dir, long *n, int **present);

#ifdef __cplusplus
}
#endif
#endif
