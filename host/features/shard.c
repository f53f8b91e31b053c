/* Sharding file lists over processes and audits over Slurm array tasks. See copyscope/shard.h. */
#include "copyscope/shard.h"
#include "copyscope/protocol.h"
#include "copyscope/statsfile.h"

#include "core/common.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Strict decimal in [lo, hi]; 0 on failure. */
static int cs_shard_parse_long(const char *s, size_t len, long lo, long hi, long *out) {
    if (len == 0 || len > 18) return 0;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static cs_status cs_shard_env(const char *name, long *out) {
    const char *v = getenv(name);
    if (!v || !v[0])
        return CS_FAIL(CS_E_USAGE, "--shard auto: %s is not set (not running in a Slurm job array; "
                       "give --shard I/N instead)", name);
    if (!cs_shard_parse_long(v, strlen(v), 0, 0x7fffffffL, out))
        return CS_FAIL(CS_E_USAGE, "--shard auto: %s='%s' is not a non-negative integer", name, v);
    return CS_OK;
}

cs_status cs_shard_parse(const char *spec, cs_shard *out) {
    memset(out, 0, sizeof *out);
    if (!spec) return CS_FAIL(CS_E_USAGE, "--shard: missing value");
    const char *slash = strchr(spec, '/');
    if (strncmp(spec, "auto", 4) == 0 && (spec[4] == 0 || spec[4] == '/')) {
        long id, min, count;
        CS_TRY(cs_shard_env("SLURM_ARRAY_TASK_ID", &id));
        if (spec[4] == '/') {
            if (!cs_shard_parse_long(spec + 5, strlen(spec + 5), 1, CS_SHARD_MAX, &count))
                return CS_FAIL(CS_E_USAGE, "--shard '%s': N must be an integer in [1, %d]", spec, CS_SHARD_MAX);
            min = 0;
        } else {
            CS_TRY(cs_shard_env("SLURM_ARRAY_TASK_MIN", &min));
            CS_TRY(cs_shard_env("SLURM_ARRAY_TASK_COUNT", &count));
            if (count < 1 || count > CS_SHARD_MAX)
                return CS_FAIL(CS_E_USAGE, "--shard auto: SLURM_ARRAY_TASK_COUNT=%ld out of [1, %d]",
                               count, CS_SHARD_MAX);
        }
        if (id < min || id - min >= count)
            return CS_FAIL(CS_E_USAGE, "--shard %s: array task %ld is not in [%ld, %ld) (submit the array "
                           "as --array=0-%ld)", spec, id, min, min + count, count - 1);
        out->index = id - min;
        out->count = count;
        return CS_OK;
    }
    long i, n;
    if (!slash || !cs_shard_parse_long(spec, (size_t)(slash - spec), 0, CS_SHARD_MAX, &i) ||
        !cs_shard_parse_long(slash + 1, strlen(slash + 1), 1, CS_SHARD_MAX, &n))
        return CS_FAIL(CS_E_USAGE, "--shard '%s': expected I/N (0 <= I < N <= %d), auto or auto/N",
                       spec, CS_SHARD_MAX);
    if (i >= n) return CS_FAIL(CS_E_USAGE, "--shard %s: I must be below N (shards are numbered from 0)", spec);
    out->index = i;
    out->count = n;
    return CS_OK;
}

void cs_shard_range(cs_shard s, size_t n, size_t *begin, size_t *end) {
    if (s.count <= 0) {
        *begin = 0;
        *end = n;
        return;
    }
    /* floor(I n / N) without overflow for n < 2^44 and N <= 10^6 (long double holds 64 bits) */
    *begin = (size_t)((unsigned long long)((long double)n * s.index / s.count));
    *end = (size_t)((unsigned long long)((long double)n * (s.index + 1) / s.count));
    if (s.index + 1 == s.count) *end = n;
    if (*end > n) *end = n;
    if (*begin > *end) *begin = *end;
}

cs_status cs_pathlist_shard(const cs_pathlist *in, cs_shard s, cs_pathlist *out) {
    memset(out, 0, sizeof *out);
    size_t b, e;
    cs_shard_range(s, in->n, &b, &e);
    for (size_t i = b; i < e; i++) {
        cs_status st = cs_pathlist_push(out, in->paths[i]);
        if (st != CS_OK) {
            cs_pathlist_free(out);
            return st;
        }
    }
    return CS_OK;
}

cs_status cs_shard_part_path(const char *dir, cs_shard s, char *buf, size_t cap) {
    int len = snprintf(buf, cap, "%s/part-%ld-of-%ld.h5", dir, s.index, s.count);
    if (len < 0 || (size_t)len >= cap) return CS_FAIL(CS_E_USAGE, "%s: path too long", dir);
    return CS_OK;
}

void cs_features_init_empty(cs_features *f, int dims) {
    memset(f, 0, sizeof *f);
    f->dims = dims;
}

static cs_status cs_shard_mkdir_p(const char *dir) {
    char tmp[4096];
    int len = snprintf(tmp, sizeof tmp, "%s", dir);
    if (len <= 0 || (size_t)len >= sizeof tmp) return CS_FAIL(CS_E_USAGE, "%s: path too long", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return CS_FAIL(CS_E_IO, "%s: cannot create directory: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return CS_FAIL(CS_E_IO, "%s: cannot create directory: %s", tmp, strerror(errno));
    return CS_OK;
}

/* ---- audits --------------------------------------------------------------------------------- */

/* Must match the extraction order of cs_audit_load (host/attribution/audit.c): sets, then the reference. */
cs_status cs_audit_image_list(const cs_audit_manifest *m, cs_pathlist *out) {
    memset(out, 0, sizeof *out);
    cs_status st = CS_OK;
    for (size_t k = 0; k <= m->n_sets && st == CS_OK; k++) {
        const cs_audit_set_spec *sp = k < m->n_sets ? &m->sets[k] : &m->reference;
        if (sp->source != CS_AUDIT_IMAGES) continue;
        for (size_t i = 0; i < sp->files.n && st == CS_OK; i++) st = cs_pathlist_push(out, sp->files.paths[i]);
    }
    if (st != CS_OK) cs_pathlist_free(out);
    return st;
}

cs_status cs_audit_shard_extract(const cs_audit_manifest *m, const cs_features_opts *fo, cs_shard s,
                                 const char *dir, size_t *n_rows) {
    char path[4096];
    CS_TRY(cs_shard_part_path(dir, s, path, sizeof path));
    CS_TRY(cs_shard_mkdir_p(dir));
    cs_pathlist all, mine;
    CS_TRY(cs_audit_image_list(m, &all));
    cs_status st = cs_pathlist_shard(&all, s, &mine);
    cs_pathlist_free(&all);
    CS_TRY(st);
    cs_features f;
    if (mine.n > 0) {
        cs_features_opts o = *fo;
        o.skip_bad = 0; /* rows must map to images one to one */
        st = cs_features_extract(&mine, &o, &f);
        if (st == CS_OK && f.n != mine.n)
            st = CS_FAIL(CS_E_INTERNAL, "extraction returned %zu rows for %zu images", f.n, mine.n);
    } else {
        cs_features_init_empty(&f, fo->dims);
        f.protocol = fo->protocol;
    }
    if (n_rows) *n_rows = mine.n;
    cs_pathlist_free(&mine);
    if (st == CS_OK) st = cs_features_write_h5(&f, path);
    cs_features_free(&f);
    return st;
}

cs_status cs_shard_parts_scan(const char *dir, long *n, int **present) {
    *present = NULL;
    DIR *d = opendir(dir);
    if (!d) return CS_FAIL(CS_E_NOTFOUND, "%s: cannot open partials directory: %s", dir, strerror(errno));
    long found_n = *n;
    int *p = NULL;
    cs_status st = CS_OK;
    struct dirent *e;
    /* pass 1: N */
    if (found_n == 0) {
        while ((e = readdir(d)) && st == CS_OK) {
            long i, nn;
            char tail[8];
            if (sscanf(e->d_name, "part-%ld-of-%ld%7s", &i, &nn, tail) != 3 || strcmp(tail, ".h5") != 0) continue;
            if (nn < 1 || nn > CS_SHARD_MAX) continue;
            if (found_n && nn != found_n)
                st = CS_FAIL(CS_E_MISMATCH, "%s: parts of two different splits (of %ld and of %ld shards); "
                             "remove the stale ones", dir, found_n, nn);
            found_n = nn;
        }
        if (st == CS_OK && found_n == 0)
            st = CS_FAIL(CS_E_NOTFOUND, "%s: no part-I-of-N.h5 files", dir);
        rewinddir(d);
    }
    if (st == CS_OK) {
        p = cs_calloc((size_t)found_n, sizeof *p, "part flags");
        if (!p) st = CS_E_NOMEM;
    }
    while (st == CS_OK && (e = readdir(d))) {
        long i, nn;
        char tail[8];
        if (sscanf(e->d_name, "part-%ld-of-%ld%7s", &i, &nn, tail) != 3 || strcmp(tail, ".h5") != 0) continue;
        if (nn == found_n && i >= 0 && i < nn) p[i] = 1;
    }
    closedir(d);
    if (st != CS_OK) {
        free(p);
        return st;
    }
    *n = found_n;
    *present = p;
    return CS_OK;
}

cs_status cs_audit_partials_read(const cs_audit_manifest *m, const char *dir, cs_features *out) {
    memset(out, 0, sizeof *out);
    long n = 0;
    int *present = NULL;
    CS_TRY(cs_shard_parts_scan(dir, &n, &present));
    cs_pathlist all = {0};
    cs_features part = {0};
    cs_status st = CS_OK;
    for (long i = 0; i < n; i++)
        if (!present[i]) {
            cs_shard s = {i, n};
            char path[4096];
            cs_shard_part_path(dir, s, path, sizeof path);
            st = CS_FAIL(CS_E_NOTFOUND, "%s: missing (shard %ld of %ld did not finish; rerun it, e.g. "
                         "'copyscope slurm submit' again)", path, i, n);
            goto done;
        }
    CS_TRY_GOTO(st, cs_audit_image_list(m, &all), done);
    size_t bytes;
    int dims = 0;
    char first_pre[256] = "";
    /* pass 1: shapes and identity (no rows read) */
    for (long i = 0; i < n; i++) {
        cs_shard s = {i, n};
        char path[4096];
        int64_t rows;
        int d;
        cs_extractor_id id;
        size_t b, e;
        CS_TRY_GOTO(st, cs_shard_part_path(dir, s, path, sizeof path), done);
        CS_TRY_GOTO(st, cs_features_file_info(path, &rows, &d, &id), done);
        cs_shard_range(s, all.n, &b, &e);
        if ((size_t)rows != e - b) {
            st = CS_FAIL(CS_E_MISMATCH, "%s: %lld rows, but shard %ld of %ld of this manifest has %zu images "
                         "(a part of another manifest or split?)", path, (long long)rows, i, n, e - b);
            goto done;
        }
        if (i == 0) dims = d;
        if (d != dims) {
            st = CS_FAIL(CS_E_MISMATCH, "%s: %d-dimensional features, part 0 has %d", path, d, dims);
            goto done;
        }
        if (rows > 0 && id.weights_sha256[0]) {
            if (!out->weights_sha256[0]) snprintf(out->weights_sha256, sizeof out->weights_sha256, "%s", id.weights_sha256);
            else if (strcmp(out->weights_sha256, id.weights_sha256) != 0) {
                st = CS_FAIL(CS_E_MISMATCH, "%s: features from other weights (SHA-256 %.12s..., other parts "
                             "%.12s...)", path, id.weights_sha256, out->weights_sha256);
                goto done;
            }
        }
        /* every part from one extractor: the first part with rows sets the preprocessing (one
         * of the feature spaces' identities, copyscope/model.h) */
        if (rows > 0 && id.preprocessing[0]) {
            if (!first_pre[0]) snprintf(first_pre, sizeof first_pre, "%s", id.preprocessing);
            else if (strcmp(id.preprocessing, first_pre) != 0) {
                st = CS_FAIL(CS_E_MISMATCH, "%s: other preprocessing ('%s', other parts '%s')", path,
                             id.preprocessing, first_pre);
                goto done;
            }
        }
    }
    cs_protocol proto; /* the parts' FID protocol (Inception features; else the default) */
    if (cs_protocol_from_preprocess_id(first_pre, &proto)) out->protocol = (int)proto;
    if (!cs_mul_size(all.n, (size_t)dims * sizeof(float), &bytes)) {
        st = CS_FAIL(CS_E_FORMAT, "%s: too many rows", dir);
        goto done;
    }
    out->data = cs_malloc(bytes ? bytes : 1, "features"); /* (all.n, dims) float32 */
    if (!out->data) {
        st = CS_E_NOMEM;
        goto done;
    }
    out->dims = dims;
    /* pass 2: rows, and paths checked against the manifest */
    for (long i = 0; i < n; i++) {
        cs_shard s = {i, n};
        char path[4096];
        size_t b, e;
        cs_shard_range(s, all.n, &b, &e);
        CS_TRY_GOTO(st, cs_shard_part_path(dir, s, path, sizeof path), done);
        CS_TRY_GOTO(st, cs_features_file_read(path, 1, &part), done);
        if (part.n != e - b || part.dims != dims || part.paths.n != part.n) {
            st = CS_FAIL(CS_E_MISMATCH, "%s: changed while reading", path);
            goto done;
        }
        for (size_t r = 0; r < part.n; r++)
            if (strcmp(part.paths.paths[r], all.paths[b + r]) != 0) {
                st = CS_FAIL(CS_E_MISMATCH, "%s: row %zu is %s but the manifest's image %zu is %s (a part of "
                             "another manifest?)", path, r, part.paths.paths[r], b + r, all.paths[b + r]);
                goto done;
            }
        if (part.n) memcpy(out->data + b * (size_t)dims, part.data, part.n * (size_t)dims * sizeof(float));
        for (size_t r = 0; r < part.n && st == CS_OK; r++) st = cs_pathlist_push(&out->paths, part.paths.paths[r]);
        if (st != CS_OK) goto done;
        cs_features_free(&part);
    }
    out->n = all.n;
    out->n_from_cache = all.n;
done:
    free(present);
    cs_pathlist_free(&all);
    cs_features_free(&part);
    if (st != CS_OK) cs_features_free(out);
    return st;
}
