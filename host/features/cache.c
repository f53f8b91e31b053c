/* The feature cache: per-writer HDF5 parts merged on read (see include/copyscope/cache.h). */
#include "copyscope/cache.h"

#include "copyscope/weights.h"
#include "io/h5util.h"
#include "core/tmpfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CS_CACHE_MAX_PARTS 100000
#define CS_CACHE_MAX_ROWS_PER_PART 10000000ULL
#define CS_CACHE_COMPACT_AT 64 /* merge parts into one when a cache has more than this many */

typedef struct cs_cache_slot {
    uint8_t sha[32];
    int32_t part; /* index into parts, or -1 for a pending (in-memory) entry */
    uint32_t row; /* row in that part, or in the pending buffer */
    int used;
} cs_cache_slot;

struct cs_cache {
    char dir[4096];          /* namespace directory */
    char id[1024];           /* full extractor identity */
    int dims;
    char **parts;            /* part file names (relative to dir) */
    size_t n_parts;
    cs_cache_slot *slots;    /* open addressing, capacity power of two */
    size_t cap, count;
    /* pending entries */
    uint8_t (*p_sha)[32];    /* (p_n, 32) */
    float *p_feat;           /* (p_n, dims) float32 */
    size_t p_n, p_cap;
    unsigned seq;
};

static uint64_t cs_sha_hash(const uint8_t *sha) {
    uint64_t h;
    memcpy(&h, sha, sizeof h); /* SHA-256 bytes are already uniform */
    return h;
}

static cs_status cs_cache_grow(cs_cache *c) {
    size_t ncap = c->cap ? c->cap * 2 : 1024;
    cs_cache_slot *ns = cs_calloc(ncap, sizeof *ns, "feature cache index");
    if (!ns) return CS_E_NOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].used) continue;
        size_t j = cs_sha_hash(c->slots[i].sha) & (ncap - 1);
        while (ns[j].used) j = (j + 1) & (ncap - 1);
        ns[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    return CS_OK;
}

static cs_cache_slot *cs_cache_find(const cs_cache *c, const uint8_t *sha) {
    if (!c->cap) return NULL;
    size_t j = cs_sha_hash(sha) & (c->cap - 1);
    while (c->slots[j].used) {
        if (memcmp(c->slots[j].sha, sha, 32) == 0) return &c->slots[j];
        j = (j + 1) & (c->cap - 1);
    }
    return NULL;
}

/* Insert if absent (first writer wins: duplicates across parts hold equal features). */
static cs_status cs_cache_insert(cs_cache *c, const uint8_t *sha, int32_t part, uint32_t row) {
    if (cs_cache_find(c, sha)) return CS_OK;
    if ((c->count + 1) * 2 > c->cap) CS_TRY(cs_cache_grow(c));
    size_t j = cs_sha_hash(sha) & (c->cap - 1);
    while (c->slots[j].used) j = (j + 1) & (c->cap - 1);
    memcpy(c->slots[j].sha, sha, 32);
    c->slots[j].part = part;
    c->slots[j].row = row;
    c->slots[j].used = 1;
    c->count++;
    return CS_OK;
}

cs_status cs_cache_default_dir(char *out, size_t out_size) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/') snprintf(out, out_size, "%s/copyscope", xdg);
    else if (home && home[0]) snprintf(out, out_size, "%s/.cache/copyscope", home);
    else return CS_FAIL(CS_E_USAGE, "no cache directory: neither $XDG_CACHE_HOME nor $HOME is set (use --cache DIR or --no-cache)");
    return CS_OK;
}

static cs_status cs_mkdir_p(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return CS_FAIL(CS_E_IO, "%s: cannot create cache directory: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return CS_FAIL(CS_E_IO, "%s: cannot create cache directory: %s", tmp, strerror(errno));
    return CS_OK;
}

/* Read the digests of one part into the index. A part that cannot be read (foreign, damaged
 * by a disk error) is skipped with its entries recomputed: the cache is an accelerator. */
static cs_status cs_cache_index_part(cs_cache *c, const char *name, int32_t part_idx) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    if (cs_check_regular_file(path) != CS_OK) return (cs_error_clear(), CS_OK); /* a FIFO would block */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return CS_OK;
    cs_status st = CS_OK;
    uint8_t(*sha)[32] = NULL;
    char id[1024] = "";
    int rs = 0, rf = 0;
    hsize_t ds[2], df[2];
    if (cs_h5_read_attr_str(f, "extractor", id, sizeof id, path) != CS_OK || strcmp(id, c->id) != 0) goto done;
    if (cs_h5_dims(f, "sha256", &rs, ds, path) != CS_OK || cs_h5_dims(f, "features", &rf, df, path) != CS_OK) goto done;
    if (rs != 2 || ds[1] != 32 || rf != 2 || df[0] != ds[0] || df[1] != (hsize_t)c->dims ||
        ds[0] > CS_CACHE_MAX_ROWS_PER_PART)
        goto done;
    sha = cs_malloc(ds[0] * 32, "cache digests");
    if (!sha) {
        st = CS_E_NOMEM;
        goto done;
    }
    hid_t d = H5Dopen2(f, "sha256", H5P_DEFAULT);
    herr_t e = H5Dread(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, sha);
    H5Dclose(d);
    if (e < 0) goto done;
    for (hsize_t i = 0; i < ds[0]; i++) CS_TRY_GOTO(st, cs_cache_insert(c, sha[i], part_idx, (uint32_t)i), done);
done:
    cs_error_clear();
    free(sha);
    H5Fclose(f);
    return st;
}

static int cs_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void cs_cache_drop_index(cs_cache *c) {
    for (size_t i = 0; i < c->n_parts; i++) free(c->parts[i]);
    free(c->parts);
    c->parts = NULL;
    c->n_parts = 0;
    free(c->slots);
    c->slots = NULL;
    c->cap = c->count = 0;
}

/* List complete parts and index them. Pending entries are re-inserted afterwards. */
static cs_status cs_cache_scan(cs_cache *c) {
    cs_cache_drop_index(c);
    DIR *d = opendir(c->dir);
    if (!d) return CS_FAIL(CS_E_IO, "%s: cannot list cache directory: %s", c->dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    cs_status st = CS_OK;
    while ((e = readdir(d))) {
        size_t L = strlen(e->d_name);
        if (strncmp(e->d_name, "part-", 5) != 0 || L < 8 || strcmp(e->d_name + L - 3, ".h5") != 0) continue;
        if (c->n_parts >= CS_CACHE_MAX_PARTS) break;
        if (c->n_parts == cap) {
            cap = cap ? cap * 2 : 64;
            char **np = realloc(c->parts, cap * sizeof *np);
            if (!np) {
                st = CS_FAIL(CS_E_NOMEM, "out of memory listing the cache");
                break;
            }
            c->parts = np;
        }
        c->parts[c->n_parts] = strdup(e->d_name);
        if (!c->parts[c->n_parts]) {
            st = CS_FAIL(CS_E_NOMEM, "out of memory listing the cache");
            break;
        }
        c->n_parts++;
    }
    closedir(d);
    if (st != CS_OK) return st;
    if (c->n_parts > 1) qsort(c->parts, c->n_parts, sizeof *c->parts, cs_cmp_str);
    for (size_t i = 0; i < c->n_parts; i++) CS_TRY(cs_cache_index_part(c, c->parts[i], (int32_t)i));
    for (size_t i = 0; i < c->p_n; i++) CS_TRY(cs_cache_insert(c, c->p_sha[i], -1, (uint32_t)i));
    return CS_OK;
}

/* Write rows as a new part: temporary file, fsync, rename (atomic on POSIX filesystems). */
static cs_status cs_cache_write_part(cs_cache *c, size_t n, const uint8_t (*sha)[32], const float *feat,
                                     char *name_out, size_t name_size) {
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++)
        if (*p == '/' || *p == '.') *p = '_';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char name[512], path[8192], tmp[8300];
    snprintf(name, sizeof name, "part-%s-%ld-%lld%09ld-%u.h5", host, (long)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec, c->seq++);
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cs_status st = CS_OK;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return CS_FAIL(CS_E_IO, "%s: cannot create cache part", tmp);
    const int slot = cs_tmp_track(tmp); /* unlinked if a signal ends the run before the rename */
    CS_TRY_GOTO(st, cs_h5_write_attr_str(f, "extractor", c->id, tmp), fail);
    CS_TRY_GOTO(st, cs_h5_write_2d(f, "sha256", H5T_NATIVE_UCHAR, H5T_STD_U8LE, n, 32, sha, tmp), fail);
    CS_TRY_GOTO(st, cs_h5_write_2d(f, "features", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, n, (size_t)c->dims, feat, tmp), fail);
    CS_TRY_GOTO(st, cs_h5_commit(&f, tmp, path), fail);
    cs_tmp_untrack(slot);
    if (name_out) snprintf(name_out, name_size, "%s", name);
    return CS_OK;
fail:
    if (f >= 0) H5Fclose(f);
    unlink(tmp);
    cs_tmp_untrack(slot);
    return st;
}

/* Read full rows of a set of (part,row) requests grouped by part. */
static cs_status cs_cache_read_rows(cs_cache *c, int32_t part, size_t k, const uint32_t *rows, float *dst_rows,
                                    const size_t *dst_idx, int *vanished) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", c->dir, c->parts[part]);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        *vanished = 1; /* compacted away by another process: caller re-lists */
        return CS_OK;
    }
    cs_status st = CS_OK;
    hid_t d = H5Dopen2(f, "features", H5P_DEFAULT);
    hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t one[2] = {1, (hsize_t)c->dims};
    hid_t ms = H5Screate_simple(2, one, NULL);
    for (size_t i = 0; i < k && st == CS_OK; i++) {
        hsize_t start[2] = {rows[i], 0};
        if (fs < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, one, NULL) < 0 ||
            H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, dst_rows + dst_idx[i] * (size_t)c->dims) < 0)
            st = CS_FAIL(CS_E_IO, "%s: cannot read cached features", path);
    }
    H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return st;
}

/* Merge many small parts into one (under an exclusive, non-blocking lock; skipped if busy). */
static void cs_cache_compact(cs_cache *c) {
    char lockpath[8192];
    snprintf(lockpath, sizeof lockpath, "%s/lock", c->dir);
    int fd = open(lockpath, O_RDWR | O_CREAT, 0666);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return;
    }
    size_t n = c->count;
    uint8_t(*sha)[32] = malloc(n ? n * 32 : 1);
    float *feat = malloc(n ? n * (size_t)c->dims * sizeof(float) : 1);
    size_t *idx = malloc(n ? n * sizeof(size_t) : 1);
    uint32_t *rows = malloc(n ? n * sizeof(uint32_t) : 1);
    int ok = sha && feat && idx && rows, vanished = 0;
    size_t m = 0;
    for (size_t p = 0; ok && p < c->n_parts; p++) {
        size_t k = 0;
        for (size_t s = 0; s < c->cap; s++) {
            if (!c->slots[s].used || c->slots[s].part != (int32_t)p) continue;
            memcpy(sha[m + k], c->slots[s].sha, 32);
            rows[k] = c->slots[s].row;
            idx[k] = m + k;
            k++;
        }
        if (cs_cache_read_rows(c, (int32_t)p, k, rows, feat, idx, &vanished) != CS_OK || vanished) ok = 0;
        m += k;
    }
    char name[512];
    if (ok && m > 0 && cs_cache_write_part(c, m, (const uint8_t(*)[32])sha, feat, name, sizeof name) == CS_OK) {
        for (size_t p = 0; p < c->n_parts; p++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", c->dir, c->parts[p]);
            unlink(path);
        }
    }
    cs_error_clear();
    free(sha);
    free(feat);
    free(idx);
    free(rows);
    flock(fd, LOCK_UN);
    close(fd);
    cs_cache_scan(c);
}

cs_status cs_cache_open(const char *dir, const char *extractor_id, int dims, cs_cache **out) {
    *out = NULL;
    char base[4096];
    if (dir) snprintf(base, sizeof base, "%s", dir);
    else CS_TRY(cs_cache_default_dir(base, sizeof base));
    if (dims <= 0 || dims > 65536) return CS_FAIL(CS_E_USAGE, "cache: bad feature dimension %d", dims);
    cs_h5_quiet();
    cs_cache *c = cs_calloc(1, sizeof *c, "feature cache");
    if (!c) return CS_E_NOMEM;
    char key[65];
    cs_sha256_bytes(extractor_id, strlen(extractor_id), key);
    key[16] = '\0';
    int len = snprintf(c->dir, sizeof c->dir, "%s/%s", base, key);
    if (len < 0 || (size_t)len >= sizeof c->dir) {
        free(c);
        return CS_FAIL(CS_E_USAGE, "cache: directory name too long (%zu bytes): %s", strlen(base), base);
    }
    snprintf(c->id, sizeof c->id, "%s", extractor_id);
    c->dims = dims;
    cs_status st = cs_mkdir_p(c->dir);
    if (st == CS_OK) st = cs_cache_scan(c);
    if (st == CS_OK && c->n_parts > CS_CACHE_COMPACT_AT) cs_cache_compact(c);
    if (st != CS_OK) {
        cs_cache_close(c);
        return st;
    }
    *out = c;
    return CS_OK;
}

cs_status cs_cache_lookup(cs_cache *c, size_t n, const uint8_t (*sha)[32], float *out, unsigned char *hit,
                          size_t *n_hits) {
    size_t d = (size_t)c->dims;
    for (int attempt = 0; attempt < 3; attempt++) {
        memset(hit, 0, n);
        *n_hits = 0;
        int vanished = 0;
        /* group requests by part */
        size_t *idx = cs_malloc((n ? n : 1) * sizeof *idx, "cache lookup");
        uint32_t *rows = cs_malloc((n ? n : 1) * sizeof *rows, "cache lookup");
        int32_t *pp = cs_malloc((n ? n : 1) * sizeof *pp, "cache lookup");
        if (!idx || !rows || !pp) {
            free(idx), free(rows), free(pp);
            return CS_E_NOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            cs_cache_slot *s = cs_cache_find(c, sha[i]);
            pp[i] = s ? s->part : -2;
            if (s && s->part == -1) {
                memcpy(out + i * d, c->p_feat + (size_t)s->row * d, d * sizeof(float));
                hit[i] = 1;
            } else if (s) {
                rows[i] = s->row;
            }
        }
        cs_status st = CS_OK;
        for (size_t p = 0; p < c->n_parts && st == CS_OK && !vanished; p++) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (pp[i] == (int32_t)p) idx[k++] = i;
            if (!k) continue;
            uint32_t *r = cs_malloc(k * sizeof *r, "cache lookup");
            if (!r) {
                st = CS_E_NOMEM;
                break;
            }
            for (size_t j = 0; j < k; j++) r[j] = rows[idx[j]];
            st = cs_cache_read_rows(c, (int32_t)p, k, r, out, idx, &vanished);
            free(r);
            if (st == CS_OK && !vanished)
                for (size_t j = 0; j < k; j++) hit[idx[j]] = 1;
        }
        free(idx), free(rows), free(pp);
        if (st != CS_OK) return st;
        if (!vanished) {
            for (size_t i = 0; i < n; i++) *n_hits += hit[i];
            return CS_OK;
        }
        CS_TRY(cs_cache_scan(c)); /* another process compacted the cache: re-list and retry */
    }
    return CS_FAIL(CS_E_IO, "%s: cache parts keep vanishing while reading", c->dir);
}

cs_status cs_cache_put(cs_cache *c, size_t n, const uint8_t (*sha)[32], const float *feat) {
    size_t d = (size_t)c->dims;
    for (size_t i = 0; i < n; i++) {
        if (cs_cache_find(c, sha[i])) continue;
        for (const float *p = feat + i * d; p < feat + (i + 1) * d; p++)
            if (!(*p == *p) || *p > 3.4e38f || *p < -3.4e38f)
                return CS_FAIL(CS_E_NUMERIC, "refusing to cache a non-finite feature vector");
        if (c->p_n == c->p_cap) {
            size_t nc = c->p_cap ? c->p_cap * 2 : 256;
            uint8_t(*ns)[32] = realloc(c->p_sha, nc * 32);
            if (!ns) return CS_FAIL(CS_E_NOMEM, "out of memory in the feature cache");
            c->p_sha = ns;
            float *nf = realloc(c->p_feat, nc * d * sizeof(float));
            if (!nf) return CS_FAIL(CS_E_NOMEM, "out of memory in the feature cache");
            c->p_feat = nf;
            c->p_cap = nc;
        }
        memcpy(c->p_sha[c->p_n], sha[i], 32);
        memcpy(c->p_feat + c->p_n * d, feat + i * d, d * sizeof(float));
        CS_TRY(cs_cache_insert(c, sha[i], -1, (uint32_t)c->p_n));
        c->p_n++;
    }
    return CS_OK;
}

cs_status cs_cache_flush(cs_cache *c) {
    if (!c || c->p_n == 0) return CS_OK;
    char name[512];
    CS_TRY(cs_cache_write_part(c, c->p_n, (const uint8_t(*)[32])c->p_sha, c->p_feat, name, sizeof name));
    /* point the flushed entries at the new part (row i of the part = pending row i) */
    char **np = realloc(c->parts, (c->n_parts + 1) * sizeof *np);
    char *nm = strdup(name);
    if (!np || !nm) {
        free(nm);
        if (np) c->parts = np;
        return CS_FAIL(CS_E_NOMEM, "out of memory in the feature cache");
    }
    c->parts = np;
    c->parts[c->n_parts] = nm;
    for (size_t i = 0; i < c->p_n; i++) {
        cs_cache_slot *s = cs_cache_find(c, c->p_sha[i]);
        CS_ASSERT(s && s->part == -1 && s->row == i);
        s->part = (int32_t)c->n_parts;
    }
    c->n_parts++;
    c->p_n = 0;
    return CS_OK;
}


void cs_cache_close(cs_cache *c) {
    if (!c) return;
    cs_cache_flush(c);
    cs_cache_drop_index(c);
    free(c->p_sha);
    free(c->p_feat);
    free(c);
}
