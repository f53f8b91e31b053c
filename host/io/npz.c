/* pytorch-fid statistics (.npz = zip of mu.npy and sigma.npy): a hostile-input .npy parser, a
 * .npy writer, and the .npz reader/writer on top of libzip.
 *
 * .npy layout (numpy/lib/format.py): "\x93NUMPY", major, minor, header length (uint16 LE for 1.0,
 * uint32 LE for 2.0/3.0), a Python dict literal {'descr': '<f8', 'fortran_order': False,
 * 'shape': (d, d), } padded with spaces and ended by '\n', then the raw array. */
#include "io/npz.h"

#include "copyscope/statsfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <zip.h>

/* ---- .npy parsing ------------------------------------------------------------------------- */

typedef struct cs_npy_cursor {
    const char *p, *end;
} cs_npy_cursor;

static void cs_npy_ws(cs_npy_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int cs_npy_lit(cs_npy_cursor *c, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* A quoted Python string without escapes, at most cap - 1 chars. */
static int cs_npy_str(cs_npy_cursor *c, char *out, size_t cap) {
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        /* printable ASCII only: these strings end up in error messages */
        if (*c->p == '\\' || *c->p < 0x20 || *c->p > 0x7e || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = 0;
    return 1;
}

/* A non-negative integer (optionally with Python 2's 'L' suffix), at most 2^31 - 1.
 * Returns 1 on success, 0 if there is no integer, -1 if it is larger. */
static int cs_npy_int(cs_npy_cursor *c, int64_t *v) {
    int64_t x = 0;
    int digits = 0;
    while (c->p < c->end && isdigit((unsigned char)*c->p)) {
        x = x * 10 + (*c->p++ - '0');
        if (x > INT32_MAX) return -1;
        digits++;
    }
    if (c->p < c->end && *c->p == 'L') c->p++;
    *v = x;
    return digits > 0;
}

cs_status cs_npy_parse(const unsigned char *buf, size_t len, const char *name, size_t max_elems,
                       double **data, int *ndim, int64_t shape[2]) {
    *data = NULL;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return CS_FAIL(CS_E_FORMAT, "%s: not a .npy array (bad magic)", name);
    int major = buf[6], minor = buf[7];
    size_t hlen, hstart;
    if (major == 1 && minor == 0) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12) return CS_FAIL(CS_E_TRUNCATED, "%s: .npy header is truncated", name);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        return CS_FAIL(CS_E_FORMAT, "%s: unsupported .npy format version %d.%d", name, major, minor);
    }
    if (hlen > len - hstart)
        return CS_FAIL(CS_E_TRUNCATED, "%s: .npy header of %zu bytes is longer than the entry", name,
                       hlen);
    cs_npy_cursor c = {(const char *)buf + hstart, (const char *)buf + hstart + hlen};
    char descr[16] = "", key[32];
    int fortran = -1, nd = -1;
    int64_t shp[2] = {1, 1};
    cs_npy_ws(&c);
    if (!cs_npy_lit(&c, "{")) goto bad_header;
    for (;;) {
        cs_npy_ws(&c);
        if (cs_npy_lit(&c, "}")) break;
        if (!cs_npy_str(&c, key, sizeof key)) goto bad_header;
        cs_npy_ws(&c);
        if (!cs_npy_lit(&c, ":")) goto bad_header;
        cs_npy_ws(&c);
        if (strcmp(key, "descr") == 0) {
            if (!cs_npy_str(&c, descr, sizeof descr)) goto bad_header;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (cs_npy_lit(&c, "True")) fortran = 1;
            else if (cs_npy_lit(&c, "False")) fortran = 0;
            else goto bad_header;
        } else if (strcmp(key, "shape") == 0) {
            if (!cs_npy_lit(&c, "(")) goto bad_header;
            nd = 0;
            for (;;) {
                cs_npy_ws(&c);
                if (cs_npy_lit(&c, ")")) break;
                int64_t v;
                int r = cs_npy_int(&c, &v);
                if (r < 0) return CS_FAIL(CS_E_FORMAT, "%s: absurd array shape (a dimension above 2^31)", name);
                if (r == 0) goto bad_header;
                if (nd >= 2)
                    return CS_FAIL(CS_E_FORMAT, "%s: array has more than 2 dimensions", name);
                shp[nd++] = v;
                cs_npy_ws(&c);
                if (cs_npy_lit(&c, ",")) continue;
                if (cs_npy_lit(&c, ")")) break;
                goto bad_header;
            }
        } else {
            return CS_FAIL(CS_E_FORMAT, "%s: unexpected key '%s' in the .npy header", name, key);
        }
        cs_npy_ws(&c);
        if (cs_npy_lit(&c, ",")) continue;
        if (cs_npy_lit(&c, "}")) break;
        goto bad_header;
    }
    cs_npy_ws(&c);
    if (c.p != c.end || descr[0] == 0 || fortran < 0 || nd < 0) goto bad_header;
    if (nd == 0) return CS_FAIL(CS_E_FORMAT, "%s: array is a scalar, expected a vector or matrix", name);

    int little, size8;
    if (strcmp(descr, "<f8") == 0) little = 1, size8 = 1;
    else if (strcmp(descr, ">f8") == 0) little = 0, size8 = 1;
    else if (strcmp(descr, "<f4") == 0) little = 1, size8 = 0;
    else if (strcmp(descr, ">f4") == 0) little = 0, size8 = 0;
    else
        return CS_FAIL(CS_E_FORMAT,
                       "%s: unsupported dtype '%s' (expected float64 or float32: <f8 >f8 <f4 >f4)",
                       name, descr);
    size_t item = size8 ? 8 : 4, count, bytes;
    if (!cs_mul_size((size_t)shp[0], (size_t)shp[1], &count) || count > max_elems)
        return CS_FAIL(CS_E_FORMAT, "%s: shape (%lld, %lld) is too large", name, (long long)shp[0],
                       (long long)shp[1]);
    if (!cs_mul_size(count, item, &bytes)) return CS_FAIL(CS_E_FORMAT, "%s: shape overflows", name);
    size_t avail = len - hstart - hlen;
    if (avail < bytes)
        return CS_FAIL(CS_E_TRUNCATED, "%s: shape says %zu bytes of data, the entry has %zu", name,
                       bytes, avail);
    if (avail > bytes)
        return CS_FAIL(CS_E_FORMAT, "%s: %zu bytes of data after the array (shape mismatch)", name,
                       avail - bytes);
    double *out = cs_malloc((count ? count : 1) * sizeof(double), name); /* (shape[0], shape[1]) */
    if (!out) return CS_E_NOMEM;
    const unsigned char *src = buf + hstart + hlen;
    size_t rows = (size_t)shp[0], cols = (size_t)shp[1];
    const uint16_t one = 1;
    const int host_little = *(const unsigned char *)&one == 1;
    if (size8 && little == host_little && !(fortran && nd == 2)) { /* the common case: a plain copy */
        memcpy(out, src, bytes);
        count = 0;
    }
    for (size_t k = 0; k < count; k++) {
        const unsigned char *e = src + k * item;
        uint64_t u = 0;
        for (size_t b = 0; b < item; b++) /* assemble the integer image from its byte order */
            u |= (uint64_t)e[little ? b : item - 1 - b] << (8 * b);
        double v;
        if (size8) {
            memcpy(&v, &u, 8);
        } else {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, 4);
            v = (double)f;
        }
        /* Fortran order: element k is (k % rows, k / rows) */
        size_t dst = (fortran && nd == 2) ? (k % rows) * cols + k / rows : k;
        out[dst] = v;
    }
    *data = out;
    *ndim = nd;
    shape[0] = shp[0];
    shape[1] = shp[1];
    return CS_OK;
bad_header:
    return CS_FAIL(CS_E_FORMAT, "%s: malformed .npy header (expected {'descr': ..., 'fortran_order': "
                                "..., 'shape': (...)})",
                   name);
}

cs_status cs_npy_write(const double *data, int ndim, const int64_t shape[2], unsigned char **out,
                       size_t *out_len) {
    char dict[128];
    if (ndim == 1)
        snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%lld,), }",
                 (long long)shape[0]);
    else
        snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%lld, %lld), }",
                 (long long)shape[0], (long long)shape[1]);
    size_t dl = strlen(dict), total_header = 10 + dl + 1;
    size_t pad = (64 - total_header % 64) % 64; /* numpy aligns the data to 64 bytes */
    size_t hlen = dl + pad + 1;
    size_t count = (size_t)shape[0] * (size_t)(ndim == 2 ? shape[1] : 1);
    size_t len = 10 + hlen + count * 8;
    unsigned char *b = cs_malloc(len, "npy buffer");
    if (!b) return CS_E_NOMEM;
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(hlen & 0xff);
    b[9] = (unsigned char)(hlen >> 8);
    memcpy(b + 10, dict, dl);
    memset(b + 10 + dl, ' ', pad);
    b[10 + hlen - 1] = '\n';
    unsigned char *p = b + 10 + hlen;
    for (size_t k = 0; k < count; k++) {
        uint64_t u;
        memcpy(&u, &data[k], 8);
        for (int i = 0; i < 8; i++) p[k * 8 + i] = (unsigned char)(u >> (8 * i));
    }
    *out = b;
    *out_len = len;
    return CS_OK;
}

/* ---- .npz via libzip -------------------------------------------------------------------------- */

/* Read one member (e.g. "sigma.npy") fully, refusing sizes above max_bytes. */
static cs_status cs_zip_member(zip_t *za, const char *path, const char *member, size_t max_bytes,
                               unsigned char **buf, size_t *len) {
    *buf = NULL;
    zip_int64_t idx = zip_name_locate(za, member, 0);
    if (idx < 0) return CS_FAIL(CS_E_FORMAT, "%s: no '%s' in the .npz (not pytorch-fid statistics?)",
                                path, member);
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE))
        return CS_FAIL(CS_E_FORMAT, "%s: cannot read the zip entry of '%s'", path, member);
    if (sb.size > max_bytes)
        return CS_FAIL(CS_E_FORMAT, "%s: '%s' claims %llu bytes, more than a %zu-byte limit", path,
                       member, (unsigned long long)sb.size, max_bytes);
    /* deflate expands at most ~1032:1; a larger claim is a lie (or a bomb) */
    if ((sb.valid & ZIP_STAT_COMP_SIZE) && sb.size > sb.comp_size * 1100 + 4096)
        return CS_FAIL(CS_E_FORMAT, "%s: '%s' claims an impossible compression ratio", path, member);
    zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!zf)
        return CS_FAIL(CS_E_FORMAT, "%s: cannot open '%s': %s", path, member, zip_strerror(za));
    size_t n = (size_t)sb.size;
    unsigned char *b = cs_malloc(n + 1, member);
    if (!b) {
        zip_fclose(zf);
        return CS_E_NOMEM;
    }
    size_t got = 0;
    while (got < n) {
        zip_int64_t r = zip_fread(zf, b + got, n - got);
        if (r < 0) {
            cs_status st = CS_FAIL(CS_E_FORMAT, "%s: corrupt entry '%s': %s", path, member,
                                   zip_file_strerror(zf));
            zip_fclose(zf);
            free(b);
            return st;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    zip_fclose(zf);
    if (got != n) {
        free(b);
        return CS_FAIL(CS_E_TRUNCATED, "%s: entry '%s' ends after %zu of %zu bytes", path, member,
                       got, n);
    }
    *buf = b;
    *len = n;
    return CS_OK;
}

cs_status cs_npz_read_stats(const char *path, cs_stats **out) {
    *out = NULL;
    CS_TRY(cs_check_regular_file(path)); /* a FIFO would block libzip's open */
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        cs_status st = zerr == ZIP_ER_NOENT
                           ? CS_FAIL(CS_E_NOTFOUND, "%s: no such file", path)
                           : CS_FAIL(CS_E_FORMAT, "%s: not a readable .npz (zip) file: %s", path,
                                     zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    cs_status st = CS_OK;
    unsigned char *buf = NULL;
    size_t len = 0;
    double *mu = NULL, *sigma = NULL;
    int nd = 0;
    int64_t shp[2], shs[2];
    char name[4200];
    const size_t max_dims = CS_STATS_MAX_DIMS;
    snprintf(name, sizeof name, "%s: mu.npy", path);
    CS_TRY_GOTO(st, cs_zip_member(za, path, "mu.npy", 4096 + max_dims * 8, &buf, &len), done);
    CS_TRY_GOTO(st, cs_npy_parse(buf, len, name, max_dims, &mu, &nd, shp), done);
    free(buf);
    buf = NULL;
    if (nd != 1 || shp[0] < 1) {
        st = CS_FAIL(CS_E_FORMAT, "%s: mu has shape (%lld, %lld), expected a non-empty vector", path,
                     (long long)shp[0], (long long)shp[1]);
        goto done;
    }
    size_t d = (size_t)shp[0];
    snprintf(name, sizeof name, "%s: sigma.npy", path);
    CS_TRY_GOTO(st, cs_zip_member(za, path, "sigma.npy", 4096 + d * d * 8, &buf, &len), done);
    CS_TRY_GOTO(st, cs_npy_parse(buf, len, name, d * d, &sigma, &nd, shs), done);
    if (nd != 2 || shs[0] != (int64_t)d || shs[1] != (int64_t)d) {
        st = CS_FAIL(CS_E_FORMAT, "%s: sigma has shape (%lld, %lld), expected (%zu, %zu) to match mu",
                     path, (long long)shs[0], (long long)(nd == 2 ? shs[1] : 0), d, d);
        goto done;
    }
    for (size_t k = 0; k < d; k++)
        if (!isfinite(mu[k])) {
            st = CS_FAIL(CS_E_FORMAT, "%s: mu column %zu is not finite (%g)", path, k, mu[k]);
            goto done;
        }
    for (size_t k = 0; k < d * d; k++)
        if (!isfinite(sigma[k])) {
            st = CS_FAIL(CS_E_FORMAT, "%s: sigma row %zu column %zu is not finite (%g)", path, k / d,
                         k % d, sigma[k]);
            goto done;
        }
    CS_TRY_GOTO(st, cs_stats_from_mean_cov((int)d, mu, sigma, out), done);
    /* sigma must be a covariance: symmetric, positive semi-definite within rounding */
    st = cs_stats_validate(*out, path);
    if (st != CS_OK) {
        cs_stats_free(*out);
        *out = NULL;
    }
done:
    free(buf);
    free(mu);
    free(sigma);
    zip_discard(za);
    return st;
}

cs_status cs_npz_dims(const char *path, int *d) {
    *d = 0;
    CS_TRY(cs_check_regular_file(path));
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!za) return CS_FAIL(CS_E_FORMAT, "%s: not a readable .npz (zip) file", path);
    unsigned char *buf = NULL;
    size_t len = 0;
    double *mu = NULL;
    int nd = 0;
    int64_t shp[2];
    char name[4200];
    snprintf(name, sizeof name, "%s: mu.npy", path);
    cs_status st = cs_zip_member(za, path, "mu.npy", 4096 + (size_t)CS_STATS_MAX_DIMS * 8, &buf, &len);
    if (st == CS_OK) st = cs_npy_parse(buf, len, name, CS_STATS_MAX_DIMS, &mu, &nd, shp);
    if (st == CS_OK && (nd != 1 || shp[0] < 1))
        st = CS_FAIL(CS_E_FORMAT, "%s: mu is not a non-empty vector", path);
    if (st == CS_OK) *d = (int)shp[0];
    free(buf);
    free(mu);
    zip_discard(za);
    return st;
}

cs_status cs_npz_write_stats(const char *path, const cs_stats *s) {
    cs_status st = CS_OK;
    const size_t dd = (size_t)s->d * s->d;
    unsigned char *bm = NULL, *bs = NULL;
    size_t lm = 0, ls = 0;
    zip_t *za = NULL;
    double *cov = cs_malloc(dd * sizeof(double), "covariance"); /* (d, d) */
    if (!cov) return CS_E_NOMEM;
    CS_TRY_GOTO(st, cs_stats_covariance(s, cov), done);
    int64_t sh1[2] = {s->d, 1}, sh2[2] = {s->d, s->d};
    CS_TRY_GOTO(st, cs_npy_write(s->mean, 1, sh1, &bm, &lm), done);
    CS_TRY_GOTO(st, cs_npy_write(cov, 2, sh2, &bs, &ls), done);
    int zerr = 0;
    za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) {
        st = CS_FAIL(CS_E_IO, "%s: cannot create the .npz file (libzip error %d)", path, zerr);
        goto done;
    }
    const char *names[2] = {"mu.npy", "sigma.npy"};
    unsigned char *bufs[2] = {bm, bs};
    size_t lens[2] = {lm, ls};
    for (int i = 0; i < 2; i++) {
        zip_source_t *src = zip_source_buffer(za, bufs[i], lens[i], 0);
        zip_int64_t idx = src ? zip_file_add(za, names[i], src, ZIP_FL_OVERWRITE) : -1;
        if (idx < 0) {
            if (src) zip_source_free(src);
            st = CS_FAIL(CS_E_IO, "%s: cannot add %s: %s", path, names[i], zip_strerror(za));
            goto done;
        }
        zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    if (zip_close(za) != 0) {
        zip_error_t *ze = zip_get_error(za);
        int full = zip_error_code_system(ze) == ENOSPC || zip_error_code_system(ze) == EDQUOT;
        st = CS_FAIL(CS_E_IO, "%s: cannot write the .npz file%s: %s", path, full ? " (disk full)" : "",
                     zip_strerror(za));
        goto done;
    }
    za = NULL;
done:
    if (za) zip_discard(za);
    free(bm);
    free(bs);
    free(cov);
    return st;
}
