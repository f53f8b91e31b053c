/* HDF5 statistics and features files, file-kind detection, and format dispatch (statsfile.h). */
#include "copyscope/statsfile.h"
#include "copyscope/protocol.h"

#include "io/h5util.h"
#include "core/tmpfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Rows of a features file read per chunk when only statistics are needed. */
/* Feature rows read per call when building statistics: a multiple of CS_STATS_CHUNK_ROWS, so that
 * statistics from a features file are bit-identical to those of the same rows added at once. */
#define CS_FEATURES_CHUNK_ROWS (2 * CS_STATS_CHUNK_ROWS)
_Static_assert(CS_FEATURES_CHUNK_ROWS % CS_STATS_CHUNK_ROWS == 0, "chunk boundaries must coincide");
/* Refuse features files claiming more rows than this. */
#define CS_FEATURES_MAX_ROWS ((int64_t)1 << 31)

cs_status cs_file_kind_detect(const char *path, cs_file_kind *kind) {
    *kind = CS_FILE_UNKNOWN;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT || errno == ELOOP) return cs_check_regular_file(path); /* its message */
        return CS_FAIL(CS_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        *kind = CS_FILE_DIRECTORY;
        return CS_OK;
    }
    CS_TRY(cs_check_regular_file(path)); /* FIFOs, devices, sockets: refused before opening */
    unsigned char sig[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return CS_FAIL(CS_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(sig, 1, sizeof sig, f);
    fclose(f);
    if (got >= 4 && memcmp(sig, "PK\x03\x04", 4) == 0) {
        *kind = CS_FILE_NPZ;
        return CS_OK;
    }
    if (got >= 4 && memcmp(sig, "PK\x05\x06", 4) == 0)
        return CS_FAIL(CS_E_FORMAT, "%s: empty zip archive, expected pytorch-fid statistics", path);
    if (got == 8 && memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0) {
        cs_h5_quiet();
        hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (file < 0) return CS_FAIL(CS_E_FORMAT, "%s: corrupt HDF5 file", path);
        /* kind by the links present; nothing is read (the readers check each dataset) */
        if (H5Lexists(file, "features", H5P_DEFAULT) > 0) *kind = CS_FILE_H5_FEATURES;
        else if (H5Lexists(file, "mean", H5P_DEFAULT) > 0) *kind = CS_FILE_H5_STATS;
        H5Fclose(file);
        if (*kind == CS_FILE_UNKNOWN)
            return CS_FAIL(CS_E_FORMAT,
                           "%s: HDF5 file has neither /features nor /mean (not a copyscope "
                           "features or statistics file)",
                           path);
        return CS_OK;
    }
    return CS_FAIL(CS_E_FORMAT,
                   "%s: not a statistics or features file (expected .npz, or HDF5 from copyscope)",
                   path);
}

/* Read the identity attributes; missing ones stay "". */
static cs_status cs_h5_read_identity(hid_t file, const char *path, cs_extractor_id *id, long long *dims) {
    memset(id, 0, sizeof *id);
    if (H5Aexists(file, "weights_sha256") > 0)
        CS_TRY(cs_h5_read_attr_str(file, "weights_sha256", id->weights_sha256, sizeof id->weights_sha256, path));
    if (H5Aexists(file, "preprocessing") > 0)
        CS_TRY(cs_h5_read_attr_str(file, "preprocessing", id->preprocessing, sizeof id->preprocessing, path));
    *dims = -1;
    if (H5Aexists(file, "dims") > 0) CS_TRY(cs_h5_read_attr_int(file, "dims", dims, path));
    return CS_OK;
}

static cs_status cs_h5_write_identity(hid_t file, const char *path, const cs_extractor_id *id, int d,
                                      const char *kind) {
    CS_TRY(cs_h5_write_attr_str(file, "kind", kind, path));
    CS_TRY(cs_h5_write_attr_int(file, "dims", d, path));
    CS_TRY(cs_h5_write_attr_str(file, "weights_sha256", id->weights_sha256, path));
    CS_TRY(cs_h5_write_attr_str(file, "preprocessing", id->preprocessing, path));
    CS_TRY(cs_h5_write_attr_str(file, "copyscope_version", COPYSCOPE_VERSION, path));
    return CS_OK;
}

/* Read a whole float64 dataset whose shape must be exactly (r0) or (r0, r1). */
static cs_status cs_h5_read_f64(hid_t file, const char *path, const char *name, int rank, hsize_t r0,
                                hsize_t r1, double *out) {
    int rk;
    hsize_t dims[2];
    CS_TRY(cs_h5_dims(file, name, &rk, dims, path));
    if (rk != rank || dims[0] != r0 || (rank == 2 && dims[1] != r1))
        return CS_FAIL(CS_E_FORMAT, "%s: dataset /%s has shape (%llu%s%llu), expected (%llu%s%llu)",
                       path, name, (unsigned long long)dims[0], rk == 2 ? ", " : "",
                       rk == 2 ? (unsigned long long)dims[1] : 0ull, (unsigned long long)r0,
                       rank == 2 ? ", " : "", rank == 2 ? (unsigned long long)r1 : 0ull);
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    herr_t e = ds >= 0 ? H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : -1;
    if (ds >= 0) H5Dclose(ds);
    if (e < 0) return CS_FAIL(CS_E_FORMAT, "%s: cannot read dataset /%s (corrupt?)", path, name);
    return CS_OK;
}

cs_status cs_h5_read_stats(const char *path, cs_stats **out) {
    *out = NULL;
    hid_t file;
    CS_TRY(cs_h5_open_file(path, &file));
    cs_status st = CS_OK;
    cs_stats *s = NULL;
    cs_extractor_id id;
    long long dims_attr = -1, n = 0;
    int rk;
    hsize_t dims[2];
    CS_TRY_GOTO(st, cs_h5_read_identity(file, path, &id, &dims_attr), done);
    CS_TRY_GOTO(st, cs_h5_dims(file, "mean", &rk, dims, path), done);
    if (rk != 1 || dims[0] < 1 || dims[0] > CS_STATS_MAX_DIMS) {
        st = CS_FAIL(CS_E_FORMAT, "%s: /mean must be a vector of 1..%d values", path, CS_STATS_MAX_DIMS);
        goto done;
    }
    int d = (int)dims[0];
    if (dims_attr >= 0 && dims_attr != d) {
        st = CS_FAIL(CS_E_FORMAT, "%s: attribute dims = %lld but /mean has %d values", path, dims_attr, d);
        goto done;
    }
    if (H5Lexists(file, "n", H5P_DEFAULT) > 0) {
        hid_t ds;
        CS_TRY_GOTO(st, cs_h5_open_dataset(file, "n", path, &ds), done);
        hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
        herr_t e = -1;
        if (sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1)
            e = H5Dread(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &n);
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
        if (e < 0 || n < 0 || n > CS_STATS_MAX_N) {
            st = CS_FAIL(CS_E_FORMAT, "%s: /n is not an integer in 0..2^53 (%lld)", path, n);
            goto done;
        }
    }
    CS_TRY_GOTO(st, cs_stats_init(&s, d), done);
    s->id = id;
    CS_TRY_GOTO(st, cs_h5_read_f64(file, path, "mean", 1, (hsize_t)d, 0, s->mean), done);
    if (n > 0 || (n == 0 && H5Lexists(file, "n", H5P_DEFAULT) > 0 && H5Lexists(file, "comoment", H5P_DEFAULT) > 0)) {
        /* n = 0 with a co-moment: the empty statistics of an empty shard (merge as a no-op) */
        s->n = n;
        CS_TRY_GOTO(st, cs_h5_read_f64(file, path, "comoment", 2, (hsize_t)d, (hsize_t)d, s->m2), done);
    } else if (H5Lexists(file, "covariance", H5P_DEFAULT) > 0) {
        s->cov_only = 1;
        CS_TRY_GOTO(st, cs_h5_read_f64(file, path, "covariance", 2, (hsize_t)d, (hsize_t)d, s->m2), done);
    } else {
        st = CS_FAIL(CS_E_FORMAT, "%s: statistics of 0 samples (no /covariance and /n is 0 or missing)",
                     path);
        goto done;
    }
    /* finite, symmetric, positive semi-definite, a possible n (exit 2 naming the problem) */
    CS_TRY_GOTO(st, cs_stats_validate(s, path), done);
done:
    H5Fclose(file);
    if (st != CS_OK) cs_stats_free(s);
    else *out = s;
    return st;
}

cs_status cs_h5_write_stats(const char *path, const cs_stats *s) {
    cs_h5_quiet();
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    cs_status st = CS_OK;
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return CS_FAIL(CS_E_IO, "%s: cannot create HDF5 file%s", tmp, cs_write_fail_note(tmp));
    const int slot = cs_tmp_track(tmp); /* unlinked if a signal ends the run before the rename */
    long long n = s->cov_only ? 0 : (long long)s->n;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(file, "n", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = ds >= 0 ? H5Dwrite(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &n) : -1;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    if (e < 0) {
        st = CS_FAIL(CS_E_IO, "%s: cannot write dataset /n%s", path, cs_write_fail_note(path));
        goto fail;
    }
    CS_TRY_GOTO(st, cs_h5_write_2d(file, "mean", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, (size_t)s->d, 0,
                                   s->mean, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_2d(file, s->cov_only ? "covariance" : "comoment", H5T_NATIVE_DOUBLE,
                                   H5T_IEEE_F64LE, (size_t)s->d, (size_t)s->d, s->m2, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_identity(file, path, &s->id, s->d, "stats"), fail);
    CS_TRY_GOTO(st, cs_h5_commit(&file, tmp, path), fail);
    cs_tmp_untrack(slot);
    return CS_OK;
fail:
    if (file >= 0) H5Fclose(file);
    unlink(tmp);
    cs_tmp_untrack(slot);
    return st;
}

/* Open a features file and validate /features: rank 2, float, sane (n, d); identity attributes. */
static cs_status cs_features_open(const char *path, hid_t *file_out, hid_t *ds_out, int64_t *n_out,
                                  int *d_out, cs_extractor_id *id) {
    *file_out = *ds_out = -1;
    hid_t file;
    CS_TRY(cs_h5_open_file(path, &file));
    cs_status st = CS_OK;
    long long dims_attr = -1;
    int rk;
    hsize_t dims[2];
    CS_TRY_GOTO(st, cs_h5_read_identity(file, path, id, &dims_attr), fail);
    CS_TRY_GOTO(st, cs_h5_dims(file, "features", &rk, dims, path), fail);
    if (rk != 2 || dims[1] < 1 || dims[1] > CS_STATS_MAX_DIMS || dims[0] > (hsize_t)CS_FEATURES_MAX_ROWS) {
        st = CS_FAIL(CS_E_FORMAT, "%s: /features must be an (n, d) matrix with d in 1..%d", path,
                     CS_STATS_MAX_DIMS);
        goto fail;
    }
    if (dims_attr >= 0 && (hsize_t)dims_attr != dims[1]) {
        st = CS_FAIL(CS_E_FORMAT, "%s: attribute dims = %lld but /features has %llu columns", path,
                     dims_attr, (unsigned long long)dims[1]);
        goto fail;
    }
    /* the lists that go with the rows must have as many entries (checked before reading rows) */
    static const char *const lists[2] = {"paths", "sha256"};
    for (int i = 0; i < 2; i++) {
        int lrk;
        hsize_t ldims[2];
        if (H5Lexists(file, lists[i], H5P_DEFAULT) <= 0) continue;
        CS_TRY_GOTO(st, cs_h5_dims(file, lists[i], &lrk, ldims, path), fail);
        if (lrk != 1 || ldims[0] != dims[0]) {
            st = CS_FAIL(CS_E_FORMAT, "%s: /%s has %llu entries, /features has %llu rows", path,
                         lists[i], (unsigned long long)ldims[0], (unsigned long long)dims[0]);
            goto fail;
        }
    }
    hid_t ds = H5Dopen2(file, "features", H5P_DEFAULT);
    hid_t ty = ds >= 0 ? H5Dget_type(ds) : -1;
    int is_float = ty >= 0 && H5Tget_class(ty) == H5T_FLOAT;
    if (ty >= 0) H5Tclose(ty);
    if (!is_float) {
        if (ds >= 0) H5Dclose(ds);
        st = CS_FAIL(CS_E_FORMAT, "%s: /features is not a floating-point dataset", path);
        goto fail;
    }
    *file_out = file;
    *ds_out = ds;
    *n_out = (int64_t)dims[0];
    *d_out = (int)dims[1];
    return CS_OK;
fail:
    H5Fclose(file);
    return st;
}

/* Rows [r0, r0 + nr) of /features as float32 into buf (nr, d). */
static cs_status cs_features_read_rows(hid_t ds, const char *path, int64_t r0, int64_t nr, int d, float *buf) {
    hsize_t start[2] = {(hsize_t)r0, 0}, count[2] = {(hsize_t)nr, (hsize_t)d};
    hid_t fsp = H5Dget_space(ds);
    hid_t msp = H5Screate_simple(2, count, NULL);
    herr_t e = (fsp >= 0 && msp >= 0) ? H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) : -1;
    if (e >= 0) e = H5Dread(ds, H5T_NATIVE_FLOAT, msp, fsp, H5P_DEFAULT, buf);
    if (msp >= 0) H5Sclose(msp);
    if (fsp >= 0) H5Sclose(fsp);
    if (e < 0)
        return CS_FAIL(CS_E_FORMAT, "%s: cannot read /features rows %lld..%lld (corrupt?)", path,
                       (long long)r0, (long long)(r0 + nr - 1));
    return CS_OK;
}

/* Rows r0.. of a features file held in buf (nr, d): NaN or inf is bad input whatever the container
 * (CS_E_FORMAT naming the file, row and column, like .npz and HDF5 statistics). */
static cs_status cs_features_check_finite(const char *path, const float *buf, int64_t r0, int64_t nr, int d) {
    for (size_t k = 0; k < (size_t)nr * (size_t)d; k++)
        if (!isfinite(buf[k]))
            return CS_FAIL(CS_E_FORMAT, "%s: /features row %lld column %zu is not finite (%g)", path,
                           (long long)(r0 + (int64_t)(k / (size_t)d)), k % (size_t)d, (double)buf[k]);
    return CS_OK;
}

/* The longest string a /paths or /sha256 entry may hold (fixed or variable length). */
#define CS_H5_MAX_STRING 65536

static uint64_t cs_h5_le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* The global heap collection loaded last, with where each object index starts (table[idx]: its
 * offset + 1 in buf when present; later duplicates win, as in HDF5). */
typedef struct {
    uint64_t addr;
    unsigned char *buf;
    size_t size;
    size_t *table; /* (65536) */
    int loaded;
} cs_h5_heap;

/* libhdf5 1.10 copies a heap object's stored size into a buffer of the string's declared length,
 * and reads the object index without checking that it exists (a SEGV in H5HG_read, found by
 * fuzz_h5: tests/fuzz/regress/h5/gheap-missing-object.h5). Entry i of /name points at object idx
 * of the collection at addr: it must exist, not be the free space (0), and hold at most len bytes. */
static cs_status cs_h5_check_heap_object(cs_h5_heap *h, int fd, const char *path, const char *name, int64_t i,
                                         uint64_t addr, unsigned idx, uint32_t len, size_t ss) {
    const size_t hdr = 8 + ss, objhdr = 8 + ss;
    if (!h->loaded || h->addr != addr) {
        unsigned char head[16];
        h->loaded = 0;
        if (addr > (uint64_t)INT64_MAX || pread(fd, head, hdr, (off_t)addr) != (ssize_t)hdr ||
            memcmp(head, "GCOL", 4) != 0 || head[4] != 1)
            return CS_FAIL(CS_E_FORMAT, "%s: /%s entry %lld points at no HDF5 global heap (byte %llu)", path, name,
                           (long long)i, (unsigned long long)addr);
        uint64_t csize = cs_h5_le(head + 8, ss);
        struct stat sb;
        if (fstat(fd, &sb) != 0 || csize < hdr || csize > (uint64_t)sb.st_size)
            return CS_FAIL(CS_E_FORMAT, "%s: /%s entry %lld: corrupt HDF5 global heap at byte %llu", path, name,
                           (long long)i, (unsigned long long)addr);
        unsigned char *b = realloc(h->buf, (size_t)csize);
        if (!b) return CS_FAIL(CS_E_NOMEM, "out of memory reading /%s", name);
        h->buf = b;
        if (!h->table && !(h->table = malloc(65536 * sizeof *h->table)))
            return CS_FAIL(CS_E_NOMEM, "out of memory reading /%s", name);
        if (pread(fd, h->buf, (size_t)csize, (off_t)addr) != (ssize_t)csize)
            return CS_FAIL(CS_E_FORMAT, "%s: /%s: HDF5 global heap at byte %llu runs past the end of the file",
                           path, name, (unsigned long long)addr);
        h->size = (size_t)csize;
        memset(h->table, 0, 65536 * sizeof *h->table);
        size_t p = hdr;
        while (p < h->size && h->size - p >= objhdr) { /* the walk of h5util.c's global heap check */
            unsigned k = (unsigned)cs_h5_le(h->buf + p, 2);
            uint64_t osize = cs_h5_le(h->buf + p + 8, ss), need;
            if (k > 0) need = osize > UINT64_MAX - 16 - objhdr ? UINT64_MAX : objhdr + ((osize + 7) & ~(uint64_t)7);
            else need = osize;
            if (need == 0 || need > h->size - p)
                return CS_FAIL(CS_E_FORMAT, "%s: corrupt HDF5 global heap at byte %llu", path, (unsigned long long)addr);
            h->table[k] = p + 1;
            p += (size_t)need;
        }
        h->addr = addr;
        h->loaded = 1;
    }
    size_t at = idx < 65536 ? h->table[idx] : 0;
    uint64_t osize = at ? cs_h5_le(h->buf + at - 1 + 8, ss) : 0;
    if (idx == 0 || !at || osize > len)
        return CS_FAIL(CS_E_FORMAT, "%s: /%s entry %lld: HDF5 global heap at byte %llu has no object %u of at most "
                       "%u bytes", path, name, (long long)i, (unsigned long long)addr, idx, len);
    return CS_OK;
}

/* HDF5 (1.10) allocates a conversion buffer of each variable-length string's declared length
 * before it looks the string up in the global heap, so 16 bytes of a tiny file can make it ask for
 * 4 GiB (found by fuzz_h5; tests/fuzz/regress/h5/vlen-huge-length.h5). The n declared lengths are
 * therefore read raw first: the dataset must be contiguous (as h5py and copyscope write it), each
 * element is a 4-byte little-endian length, a heap address and a 4-byte index. */
static cs_status cs_h5_check_vlen_lengths(hid_t file, hid_t ds, const char *path, const char *name,
                                          int64_t n) {
    hid_t dcpl = H5Dget_create_plist(ds);
    H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (dcpl >= 0) H5Pclose(dcpl);
    haddr_t off = H5Dget_offset(ds);
    hid_t fcpl = H5Fget_create_plist(file);
    size_t sa = 0, ss = 0;
    hsize_t ub = 0;
    herr_t e = fcpl >= 0 ? H5Pget_sizes(fcpl, &sa, &ss) : -1;
    if (e >= 0) e = H5Pget_userblock(fcpl, &ub);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (lay != H5D_CONTIGUOUS || off == HADDR_UNDEF || e < 0 || (sa != 4 && sa != 8) || (ss != 2 && ss != 4 && ss != 8))
        return CS_FAIL(CS_E_FORMAT, "%s: /%s: variable-length strings must be stored contiguously (as h5py "
                       "writes them)", path, name);
    size_t el = 4 + sa + 4, bytes;
    if (!cs_mul_size((size_t)n, el, &bytes) || off > (haddr_t)INT64_MAX - bytes)
        return CS_FAIL(CS_E_FORMAT, "%s: /%s is too large", path, name);
    unsigned char *raw = cs_malloc(bytes, name); /* (n, el) bytes as stored */
    if (!raw) return CS_E_NOMEM;
    cs_status st = CS_OK;
    cs_h5_heap heap = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    while (fd >= 0 && got < bytes) {
        ssize_t r = pread(fd, raw + got, bytes - got, (off_t)(off + got));
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < bytes) {
        st = CS_FAIL(CS_E_FORMAT, "%s: /%s: its data lies past the end of the file", path, name);
    } else {
        for (int64_t i = 0; i < n && st == CS_OK; i++) {
            const unsigned char *q = raw + (size_t)i * el;
            uint32_t len = (uint32_t)cs_h5_le(q, 4);
            if (len > CS_H5_MAX_STRING) {
                st = CS_FAIL(CS_E_FORMAT, "%s: /%s entry %lld declares a string of %u bytes (at most %d)", path,
                             name, (long long)i, len, CS_H5_MAX_STRING);
                break;
            }
            if (len == 0) continue; /* empty or NULL: HDF5 reads no heap object */
            st = cs_h5_check_heap_object(&heap, fd, path, name, i, cs_h5_le(q + 4, sa) + ub, (unsigned)cs_h5_le(q + 4 + sa, 4),
                                         len, ss);
        }
    }
    if (fd >= 0) close(fd);
    free(heap.buf);
    free(heap.table);
    free(raw);
    return st;
}

/* Read a 1-D string dataset of exactly n entries (variable or fixed length) into strs[i] = strdup. */
static cs_status cs_h5_read_strings(hid_t file, const char *path, const char *name, int64_t n,
                                    char **strs) {
    int rk;
    hsize_t dims[2];
    CS_TRY(cs_h5_dims(file, name, &rk, dims, path));
    if (rk != 1 || dims[0] != (hsize_t)n)
        return CS_FAIL(CS_E_FORMAT, "%s: /%s has %llu entries, /features has %lld rows", path, name,
                       (unsigned long long)dims[0], (long long)n);
    cs_status st = CS_OK;
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t ty = ds >= 0 ? H5Dget_type(ds) : -1, mt = -1;
    char *fixed = NULL;
    char **vl = NULL;
    if (ty < 0 || H5Tget_class(ty) != H5T_STRING) {
        st = CS_FAIL(CS_E_FORMAT, "%s: /%s is not a string dataset", path, name);
        goto done;
    }
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ty)); /* no ASCII <-> UTF-8 conversion in HDF5 */
    if (H5Tis_variable_str(ty) > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        vl = cs_calloc((size_t)n, sizeof *vl, name);
        if (!vl) {
            st = CS_E_NOMEM;
            goto done;
        }
        if (n) CS_TRY_GOTO(st, cs_h5_check_vlen_lengths(file, ds, path, name, n), done);
        if (n && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, vl) < 0) {
            st = CS_FAIL(CS_E_FORMAT, "%s: cannot read /%s", path, name);
            goto done;
        }
        for (int64_t i = 0; i < n && st == CS_OK; i++)
            if (!(strs[i] = strdup(vl[i] ? vl[i] : ""))) st = CS_FAIL(CS_E_NOMEM, "out of memory reading /%s", name);
        if (n) {
            hid_t sp = H5Dget_space(ds);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vl);
            H5Sclose(sp);
        }
    } else {
        size_t sz = H5Tget_size(ty), total;
        if (sz == 0 || sz > CS_H5_MAX_STRING || !cs_mul_size(sz, (size_t)n, &total)) {
            st = CS_FAIL(CS_E_FORMAT, "%s: /%s has an absurd string size", path, name);
            goto done;
        }
        H5Tset_size(mt, sz);
        fixed = cs_malloc(total + 1, name);
        if (!fixed) {
            st = CS_E_NOMEM;
            goto done;
        }
        if (n && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed) < 0) {
            st = CS_FAIL(CS_E_FORMAT, "%s: cannot read /%s", path, name);
            goto done;
        }
        for (int64_t i = 0; i < n && st == CS_OK; i++)
            if (!(strs[i] = strndup(fixed + (size_t)i * sz, sz)))
                st = CS_FAIL(CS_E_NOMEM, "out of memory reading /%s", name);
    }
done:
    free(vl);
    free(fixed);
    if (mt >= 0) H5Tclose(mt);
    if (ty >= 0) H5Tclose(ty);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

cs_status cs_features_file_read(const char *path, int with_paths, cs_features *f) {
    memset(f, 0, sizeof *f);
    hid_t file, ds;
    int64_t n;
    int d;
    cs_extractor_id id;
    CS_TRY(cs_features_open(path, &file, &ds, &n, &d, &id));
    cs_status st = CS_OK;
    char **strs = NULL;
    size_t bytes;
    if (!cs_mul_size((size_t)n, (size_t)d * sizeof(float), &bytes)) {
        st = CS_FAIL(CS_E_FORMAT, "%s: /features is too large", path);
        goto done;
    }
    f->data = cs_malloc(bytes, "features"); /* (n, d) float32 */
    if (!f->data) {
        st = CS_E_NOMEM;
        goto done;
    }
    f->n = (size_t)n;
    f->dims = d;
    snprintf(f->weights_sha256, sizeof f->weights_sha256, "%s", id.weights_sha256);
    cs_protocol proto = CS_PROTOCOL_PYTORCH_FID; /* files without an identity: pytorch-fid's */
    if (cs_protocol_from_preprocess_id(id.preprocessing, &proto)) f->protocol = (int)proto;
    if (n) CS_TRY_GOTO(st, cs_features_read_rows(ds, path, 0, n, d, f->data), done);
    CS_TRY_GOTO(st, cs_features_check_finite(path, f->data, 0, n, d), done);
    if (with_paths) {
        strs = cs_calloc((size_t)n ? (size_t)n : 1, sizeof *strs, "paths");
        if (!strs) {
            st = CS_E_NOMEM;
            goto done;
        }
        CS_TRY_GOTO(st, cs_h5_read_strings(file, path, "paths", n, strs), done);
        for (int64_t i = 0; i < n && st == CS_OK; i++) st = cs_pathlist_push(&f->paths, strs[i]);
        if (st != CS_OK) goto done;
        for (int64_t i = 0; i < n; i++) free(strs[i]), strs[i] = NULL;
        if (H5Lexists(file, "sha256", H5P_DEFAULT) > 0) {
            CS_TRY_GOTO(st, cs_h5_read_strings(file, path, "sha256", n, strs), done);
            f->sha256 = cs_calloc((size_t)n ? (size_t)n : 1, sizeof *f->sha256, "sha256 list");
            if (!f->sha256) {
                st = CS_E_NOMEM;
                goto done;
            }
            for (int64_t i = 0; i < n; i++) snprintf(f->sha256[i], sizeof f->sha256[i], "%s", strs[i]);
        }
    }
done:
    if (strs)
        for (int64_t i = 0; i < n; i++) free(strs[i]);
    free(strs);
    H5Dclose(ds);
    H5Fclose(file);
    if (st != CS_OK) cs_features_free(f);
    return st;
}

cs_status cs_features_file_info(const char *path, int64_t *n, int *d, cs_extractor_id *id) {
    hid_t file, ds;
    CS_TRY(cs_features_open(path, &file, &ds, n, d, id));
    H5Dclose(ds);
    H5Fclose(file);
    return CS_OK;
}

cs_status cs_features_file_stats(const char *path, cs_stats **out) {
    *out = NULL;
    hid_t file, ds;
    int64_t n;
    int d;
    cs_extractor_id id;
    CS_TRY(cs_features_open(path, &file, &ds, &n, &d, &id));
    cs_status st = CS_OK;
    cs_stats *s = NULL;
    int64_t rows = n < CS_FEATURES_CHUNK_ROWS ? (n ? n : 1) : CS_FEATURES_CHUNK_ROWS;
    float *buf = cs_malloc((size_t)rows * d * sizeof(float), "feature rows"); /* (rows, d) float32 */
    if (!buf) {
        st = CS_E_NOMEM;
        goto done;
    }
    CS_TRY_GOTO(st, cs_stats_init(&s, d), done);
    s->id = id;
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t nr = n - r0 < rows ? n - r0 : rows;
        CS_TRY_GOTO(st, cs_features_read_rows(ds, path, r0, nr, d, buf), done);
        CS_TRY_GOTO(st, cs_features_check_finite(path, buf, r0, nr, d), done);
        st = cs_stats_add_f32(s, buf, nr);
        if (st != CS_OK) {
            st = CS_FAIL(st, "%s: %s", path, cs_last_error());
            goto done;
        }
    }
done:
    free(buf);
    H5Dclose(ds);
    H5Fclose(file);
    if (st != CS_OK) cs_stats_free(s);
    else *out = s;
    return st;
}

cs_status cs_stats_file_read(const char *path, cs_stats **out) {
    *out = NULL;
    cs_file_kind kind;
    CS_TRY(cs_file_kind_detect(path, &kind));
    switch (kind) {
    case CS_FILE_NPZ: return cs_npz_read_stats(path, out);
    case CS_FILE_H5_STATS: return cs_h5_read_stats(path, out);
    case CS_FILE_H5_FEATURES: return cs_features_file_stats(path, out);
    case CS_FILE_DIRECTORY:
        return CS_FAIL(CS_E_UNSUPPORTED, "%s: is a directory, expected a statistics or features file", path);
    default: break;
    }
    return CS_FAIL(CS_E_FORMAT, "%s: unknown file kind", path);
}

static int cs_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

cs_status cs_stats_file_write(const char *path, const cs_stats *s) {
    if (cs_ends_with(path, ".npz")) return cs_npz_write_stats(path, s);
    if (cs_ends_with(path, ".h5") || cs_ends_with(path, ".hdf5")) return cs_h5_write_stats(path, s);
    return CS_FAIL(CS_E_USAGE, "%s: output must end in .npz (pytorch-fid) or .h5 (copyscope)", path);
}
