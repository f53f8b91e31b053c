/* copyscope: the feature cache.
 *
 * Keyed by the SHA-256 of each image file's bytes, inside a namespace per extractor identity
 * (weights SHA-256, dims, preprocessing, precision), so renamed or copied images are never
 * recomputed and changed weights never reuse stale features.
 *
 * Layout: <dir>/<extractor key (16 hex)>/part-<host>-<pid>-<time>-<seq>.h5, each with datasets
 * /sha256 (n, 32) uint8 and /features (n, d) float32 and an attribute with the full extractor
 * identity. Each part is written to a temporary name, fsync'ed and renamed, so a killed run
 * leaves only complete parts (a stray *.tmp is ignored and removed later); the next run reads
 * every complete part and recomputes only what is missing. Concurrent processes never write the
 * same file (per-writer parts, merged on read), so they cannot corrupt each other; compaction
 * of many small parts into one runs under an exclusive flock on <dir>/<key>/lock and readers
 * tolerate a part vanishing between listing and opening (they re-list). */
#ifndef COPYSCOPE_CACHE_H
#define COPYSCOPE_CACHE_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_cache cs_cache;

/* Default directory: $XDG_CACHE_HOME/copyscope, else $HOME/.cache/copyscope. */
cs_status cs_cache_default_dir(char *out, size_t out_size);

/* Open (creating directories as needed) the namespace of one extractor identity. */
cs_status cs_cache_open(const char *dir, const char *extractor_id, int dims, cs_cache **out);
void cs_cache_close(cs_cache *c); /* flushes pending entries; NULL-safe */

/* Look up n digests (raw 32-byte SHA-256 each); hit[i] = 1 and row i of out filled on a hit. */
cs_status cs_cache_lookup(cs_cache *c, size_t n, const uint8_t (*sha)[32], float *out /* (n, dims) */,
                          unsigned char *hit, size_t *n_hits);

/* Add entries (kept in memory until cs_cache_flush writes them as one new part). */
cs_status cs_cache_put(cs_cache *c, size_t n, const uint8_t (*sha)[32], const float *feat /* (n, dims) */);
cs_status cs_cache_flush(cs_cache *c);

#ifdef __cplusplus
}
#endif
#endif
