/* The feature pipeline: image files -> (cached) Inception features. See copyscope/features.h. */
#include "copyscope/features.h"

#include "copyscope/cache.h"
#include "copyscope/image.h"
#include "copyscope/model.h"
#include "copyscope/stats.h"
#include "copyscope/weights.h"
#include "h5util.h"
#include "threadpool.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CS_IMAGE_FILE_MAX_BYTES ((size_t)1 << 30) /* 1 GiB: no real image file is larger */
#define CS_INPUT_ELEMS ((size_t)3 * 299 * 299)

/* ---- path lists -------------------------------------------------------------------------- */

cs_status cs_pathlist_push(cs_pathlist *pl, const char *path) {
    if (pl->n >= CS_PATHLIST_MAX) return CS_FAIL(CS_E_USAGE, "too many input files (limit %d)", CS_PATHLIST_MAX);
    if (pl->n == pl->cap) {
        size_t nc = pl->cap ? pl->cap * 2 : 64;
        char **np = realloc(pl->paths, nc * sizeof *np);
        if (!np) return CS_FAIL(CS_E_NOMEM, "out of memory listing input files");
        pl->paths = np;
        pl->cap = nc;
    }
    pl->paths[pl->n] = strdup(path);
    if (!pl->paths[pl->n]) return CS_FAIL(CS_E_NOMEM, "out of memory listing input files");
    pl->n++;
    return CS_OK;
}

void cs_pathlist_free(cs_pathlist *pl) {
    if (!pl) return;
    for (size_t i = 0; i < pl->n; i++) free(pl->paths[i]);
    free(pl->paths);
    memset(pl, 0, sizeof *pl);
}

static int cs_cmp_path(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static cs_status cs_expand_dir(const char *dir, cs_pathlist *out) {
    DIR *d = opendir(dir);
    if (!d) return CS_FAIL(CS_E_IO, "%s: cannot list directory: %s", dir, strerror(errno));
    size_t first = out->n;
    cs_status st = CS_OK;
    struct dirent *e;
    while ((e = readdir(d)) && st == CS_OK) {
        /* pytorch-fid's rule, so that both see the same set: path.glob('*.<ext>') for its
         * lowercase extensions (case-sensitive; dotfiles included); not recursive */
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !cs_image_has_fid_extension(e->d_name)) continue;
        char p[8192];
        int len = snprintf(p, sizeof p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        if (len < 0 || (size_t)len >= sizeof p) continue;
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        st = cs_pathlist_push(out, p);
    }
    closedir(d);
    if (st != CS_OK) return st;
    if (out->n == first)
        return CS_FAIL(CS_E_USAGE, "%s: no image files (looked for *.bmp *.jpg *.jpeg *.pgm *.png *.ppm *.tif *.tiff *.webp, lowercase, like pytorch-fid)", dir);
    qsort(out->paths + first, out->n - first, sizeof *out->paths, cs_cmp_path);
    return CS_OK;
}

cs_status cs_pathlist_expand(const char *const *inputs, size_t n_inputs, cs_pathlist *out) {
    memset(out, 0, sizeof *out);
    cs_status st = CS_OK;
    for (size_t i = 0; i < n_inputs && st == CS_OK; i++) {
        struct stat sb;
        if (stat(inputs[i], &sb) != 0) {
            st = errno == ENOENT ? CS_FAIL(CS_E_NOTFOUND, "%s: no such file or directory", inputs[i])
                                 : CS_FAIL(CS_E_IO, "%s: %s", inputs[i], strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            st = cs_expand_dir(inputs[i], out);
        } else {
            st = cs_pathlist_push(out, inputs[i]);
        }
    }
    if (st != CS_OK) cs_pathlist_free(out);
    return st;
}

/* ---- extraction ------------------------------------------------------------------------- */

void cs_features_opts_default(cs_features_opts *o) {
    memset(o, 0, sizeof *o);
    o->device = "auto";
    o->dims = 2048;
    o->batch = 50;
    o->threads = 0;
    o->use_cache = 1;
}

void cs_features_free(cs_features *f) {
    if (!f) return;
    free(f->data);
    free(f->sha256);
    cs_pathlist_free(&f->paths);
    for (size_t i = 0; i < f->skipped.n; i++) free(f->skipped_why[i]);
    free(f->skipped_why);
    cs_pathlist_free(&f->skipped);
    memset(f, 0, sizeof *f);
}

/* Per-batch work shared with the pool's workers. */
typedef struct cs_batch_ctx {
    const char *const *paths; /* (k) */
    uint8_t (*sha)[32];       /* (k, 32) */
    unsigned char **bytes;    /* (k) file contents, freed after decoding */
    size_t *len;              /* (k) */
    cs_status *st;            /* (k) */
    char **msg;               /* (k) */
    const size_t *todo;       /* (m) indices of cache misses */
    float *input;             /* (m, 3, 299, 299) float32 */
} cs_batch_ctx;

static void cs_set_item_error(cs_batch_ctx *b, size_t i, cs_status st) {
    b->st[i] = st;
    b->msg[i] = strdup(cs_last_error());
}

static void cs_job_read_hash(void *ctx, size_t i, int worker) {
    cs_batch_ctx *b = ctx;
    cs_status st = cs_read_file(b->paths[i], CS_IMAGE_FILE_MAX_BYTES, &b->bytes[i], &b->len[i]);
    if (st != CS_OK) {
        cs_set_item_error(b, i, st);
        return;
    }
    cs_sha256_digest(b->bytes[i], b->len[i], b->sha[i]);
}

static void cs_job_decode(void *ctx, size_t j, int worker) {
    cs_batch_ctx *b = ctx;
    size_t i = b->todo[j];
    cs_image img = {0};
    cs_status st = cs_image_decode(b->bytes[i], b->len[i], b->paths[i], &img);
    free(b->bytes[i]);
    b->bytes[i] = NULL;
    if (st != CS_OK) {
        cs_set_item_error(b, i, st);
        return;
    }
    st = cs_preprocess_rgb(img.rgb, img.width, img.height, b->input + j * CS_INPUT_ELEMS);
    cs_image_free(&img);
    if (st != CS_OK) cs_set_item_error(b, i, st);
}

cs_status cs_features_extract(const cs_pathlist *files, const cs_features_opts *opts, cs_features *out) {
    memset(out, 0, sizeof *out);
    const size_t n = files->n, d = (size_t)opts->dims;
    const size_t B = opts->batch > 0 ? (size_t)opts->batch : 50;
    double t0 = cs_now();
    cs_status st = CS_OK;
    cs_weights *w = NULL;
    cs_model *model = NULL;
    cs_cache *cache = NULL;
    cs_threadpool *pool = NULL;
    cs_batch_ctx b = {0};
    size_t *todo = NULL;
    unsigned char *hit = NULL;
    float *feat = NULL;
    char wpath[4096];

    if (opts->dims != 64 && opts->dims != 192 && opts->dims != 768 && opts->dims != 2048)
        return CS_FAIL(CS_E_USAGE, "--dims must be 64, 192, 768 or 2048 (got %d)", opts->dims);
    if (n == 0) return CS_FAIL(CS_E_USAGE, "no input images");
    CS_TRY(cs_weights_find(opts->weights_path, wpath, sizeof wpath));
    CS_TRY(cs_weights_load(wpath, &w));
    snprintf(out->weights_sha256, sizeof out->weights_sha256, "%s", cs_weights_sha256(w));
    out->dims = opts->dims;

    if (opts->use_cache) {
        char id[1024];
        snprintf(id, sizeof id, "copyscope-features-v1;weights=%s;dims=%d;preprocess=%s;precision=fp32",
                 out->weights_sha256, opts->dims, CS_PREPROCESS_ID);
        CS_TRY_GOTO(st, cs_cache_open(opts->cache_dir, id, opts->dims, &cache), done);
    }
    pool = cs_threadpool_create(opts->threads);
    if (!pool) {
        st = CS_E_NOMEM;
        goto done;
    }

    /* output buffers, sized for all inputs (rows of skipped files are compacted away) */
    size_t bytes;
    if (!cs_mul_size(n, d * sizeof(float), &bytes)) {
        st = CS_FAIL(CS_E_NOMEM, "feature matrix of %zu x %zu does not fit in memory", n, d);
        goto done;
    }
    out->data = cs_malloc(bytes, "feature matrix");                          /* (n, d) float32 */
    out->sha256 = cs_malloc(n * sizeof *out->sha256, "digests");             /* (n) hex */
    b.sha = cs_malloc(B * 32, "digests");                                     /* (B, 32) */
    b.bytes = cs_calloc(B, sizeof *b.bytes, "file buffers");
    b.len = cs_calloc(B, sizeof *b.len, "file sizes");
    b.st = cs_calloc(B, sizeof *b.st, "statuses");
    b.msg = cs_calloc(B, sizeof *b.msg, "messages");
    todo = cs_malloc(B * sizeof *todo, "batch indices");
    hit = cs_malloc(B, "cache hits");
    feat = cs_malloc(B * d * sizeof(float), "batch features");               /* (B, d) float32 */
    b.input = cs_malloc(B * CS_INPUT_ELEMS * sizeof(float), "network input"); /* (B, 3, 299, 299) */
    if (!out->data || !out->sha256 || !b.sha || !b.bytes || !b.len || !b.st || !b.msg || !todo || !hit || !feat ||
        !b.input) {
        st = CS_E_NOMEM;
        goto done;
    }
    b.todo = todo;

    for (size_t start = 0; start < n; start += B) {
        size_t k = n - start < B ? n - start : B;
        b.paths = (const char *const *)files->paths + start;
        memset(b.st, 0, k * sizeof *b.st);
        CS_TRY_GOTO(st, cs_threadpool_for(pool, k, cs_job_read_hash, &b), done);

        /* cache lookup for the files that could be read */
        size_t n_hits = 0;
        memset(hit, 0, k);
        if (cache) CS_TRY_GOTO(st, cs_cache_lookup(cache, k, (const uint8_t(*)[32])b.sha, feat, hit, &n_hits), done);
        size_t m = 0;
        for (size_t i = 0; i < k; i++)
            if (b.st[i] == CS_OK && !hit[i]) todo[m++] = i;
        for (size_t i = 0; i < k; i++)
            if (hit[i]) {
                free(b.bytes[i]);
                b.bytes[i] = NULL;
            }

        if (m > 0) {
            CS_TRY_GOTO(st, cs_threadpool_for(pool, m, cs_job_decode, &b), done);
            /* drop inputs that failed to decode, keeping the batch dense */
            size_t mm = 0;
            for (size_t j = 0; j < m; j++) {
                if (b.st[todo[j]] != CS_OK) continue;
                if (mm != j) memmove(b.input + mm * CS_INPUT_ELEMS, b.input + j * CS_INPUT_ELEMS, CS_INPUT_ELEMS * sizeof(float));
                todo[mm++] = todo[j];
            }
            m = mm;
        }
        /* a bad file stops the run (after saving what was computed) unless --skip-bad */
        size_t first_bad = k;
        for (size_t i = 0; i < k; i++)
            if (b.st[i] != CS_OK) {
                if (first_bad == k) first_bad = i;
                if (opts->skip_bad) {
                    CS_TRY_GOTO(st, cs_pathlist_push(&out->skipped, b.paths[i]), done);
                    char **nw = realloc(out->skipped_why, out->skipped.n * sizeof *nw);
                    if (!nw) {
                        st = CS_FAIL(CS_E_NOMEM, "out of memory");
                        goto done;
                    }
                    out->skipped_why = nw;
                    nw[out->skipped.n - 1] = b.msg[i] ? b.msg[i] : strdup("unreadable");
                    b.msg[i] = NULL;
                }
            }
        if (first_bad < k && !opts->skip_bad) {
            st = cs_error_set(b.st[first_bad], __FILE__, __LINE__, "%s%s",
                              b.msg[first_bad] ? b.msg[first_bad] : b.paths[first_bad],
                              " (use --skip-bad to continue past bad images)");
            if (cache) cs_cache_flush(cache);
            goto done;
        }

        if (m > 0) {
            if (!model) CS_TRY_GOTO(st, cs_model_create(w, opts->device, opts->threads, &model), done);
            float *mfeat = cs_malloc(m * d * sizeof(float), "batch features"); /* (m, d) float32 */
            if (!mfeat) {
                st = CS_E_NOMEM;
                goto done;
            }
            st = cs_model_forward(model, b.input, (int)m, opts->dims, mfeat);
            if (st == CS_OK) {
                uint8_t(*msha)[32] = malloc(m * 32);
                if (!msha) st = CS_FAIL(CS_E_NOMEM, "out of memory");
                for (size_t j = 0; st == CS_OK && j < m; j++) {
                    memcpy(feat + todo[j] * d, mfeat + j * d, d * sizeof(float));
                    memcpy(msha[j], b.sha[todo[j]], 32);
                }
                if (st == CS_OK && cache) {
                    st = cs_cache_put(cache, m, (const uint8_t(*)[32])msha, mfeat);
                    if (st == CS_OK) st = cs_cache_flush(cache); /* crash safety: a part per batch */
                }
                free(msha);
            }
            free(mfeat);
            if (st != CS_OK) goto done;
            out->n_computed += m;
        }
        out->n_from_cache += n_hits;

        /* append good rows in input order */
        for (size_t i = 0; i < k; i++) {
            if (b.st[i] != CS_OK) continue;
            memcpy(out->data + out->n * d, feat + i * d, d * sizeof(float));
            cs_sha256_hex(b.sha[i], out->sha256[out->n]);
            CS_TRY_GOTO(st, cs_pathlist_push(&out->paths, b.paths[i]), done);
            out->n++;
        }
        for (size_t i = 0; i < k; i++) {
            free(b.msg[i]);
            b.msg[i] = NULL;
        }
        if (opts->progress) {
            double el = cs_now() - t0;
            fprintf(stderr, "\rfeatures: %zu/%zu images (%.1f img/s)", start + k, n, (double)(start + k) / (el > 0 ? el : 1));
            fflush(stderr);
        }
    }
    if (opts->progress) fprintf(stderr, "\n");
    if (out->n == 0) st = CS_FAIL(CS_E_USAGE, "no image could be read (%zu skipped)", out->skipped.n);

done:
    for (size_t i = 0; i < B && b.bytes; i++) free(b.bytes[i]);
    for (size_t i = 0; i < B && b.msg; i++) free(b.msg[i]);
    free(b.sha), free(b.bytes), free(b.len), free(b.st), free(b.msg), free(b.input);
    free(todo), free(hit), free(feat);
    cs_threadpool_free(pool);
    cs_cache_close(cache);
    cs_model_free(model);
    cs_weights_free(w);
    out->seconds = cs_now() - t0;
    if (st != CS_OK) {
        /* keep the message of the failure, not of cleanup */
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", cs_last_error());
        cs_features_free(out);
        cs_error_set(st, __FILE__, __LINE__, "%s", keep);
    }
    return st;
}

cs_status cs_features_to_stats(const cs_features *f, cs_stats **out) {
    *out = NULL;
    cs_stats *s = NULL;
    CS_TRY(cs_stats_init(&s, f->dims));
    cs_status st = cs_stats_add_f32(s, f->data, (int64_t)f->n);
    if (st != CS_OK) {
        cs_stats_free(s);
        return st;
    }
    snprintf(s->id.weights_sha256, sizeof s->id.weights_sha256, "%s", f->weights_sha256);
    snprintf(s->id.preprocessing, sizeof s->id.preprocessing, "%s", CS_PREPROCESS_ID);
    *out = s;
    return CS_OK;
}

cs_status cs_features_write_h5(const cs_features *f, const char *path) {
    cs_h5_quiet();
    char tmp[8300];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    cs_status st = CS_OK;
    char **hex = NULL;
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return CS_FAIL(CS_E_IO, "%s: cannot create HDF5 file", path);
    CS_TRY_GOTO(st, cs_h5_write_2d(file, "features", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, f->n, (size_t)f->dims, f->data, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_strings(file, "paths", f->paths.paths, f->n, path), fail);
    hex = cs_malloc((f->n ? f->n : 1) * sizeof *hex, "digest list");
    if (!hex) {
        st = CS_E_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < f->n; i++) hex[i] = (char *)f->sha256[i];
    CS_TRY_GOTO(st, cs_h5_write_strings(file, "sha256", hex, f->n, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_strings(file, "skipped", f->skipped.paths, f->skipped.n, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "weights_sha256", f->weights_sha256, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_attr_int(file, "dims", f->dims, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "preprocessing", CS_PREPROCESS_ID, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "copyscope_version", COPYSCOPE_VERSION, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "kind", "features", path), fail);
    free(hex);
    hex = NULL;
    if (H5Fclose(file) < 0) {
        file = -1;
        st = CS_FAIL(CS_E_IO, "%s: cannot close HDF5 file", path);
        goto fail;
    }
    file = -1;
    CS_TRY_GOTO(st, cs_fsync_path(tmp), fail);
    if (rename(tmp, path) != 0) {
        st = CS_FAIL(CS_E_IO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    cs_fsync_dir_of(path);
    return CS_OK;
fail:
    free(hex);
    if (file >= 0) H5Fclose(file);
    unlink(tmp);
    return st;
}
