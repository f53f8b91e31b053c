/* The feature pipeline: image files -> (cached) Inception features. See copyscope/features.h. */
#include "copyscope/cancel.h"
#include "copyscope/features.h"

#include "copyscope/cache.h"
#include "copyscope/image.h"
#include "copyscope/model.h"
#include "copyscope/protocol.h"
#include "copyscope/stats.h"
#include "copyscope/weights.h"
#include "io/h5util.h"
#include "features/scheduler.h"
#include "core/threadpool.h"
#include "core/tmpfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CS_IMAGE_FILE_MAX_BYTES ((size_t)1 << 30) /* 1 GiB: no real image file is larger */
/* A batch whose decoded pixels exceed this goes to a preprocessing device as floats anyway
 * (preprocessed by the decode pool): bounds the pinned memory of huge images. */
#define CS_RGB_BATCH_MAX_BYTES ((size_t)256 << 20)

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

/* Append the files of dir that `rule` lists (clean-fid: recursively, depth-limited since
 * symbolic links to directories are followed as Python's glob follows them). */
static cs_status cs_expand_dir_walk(const char *dir, cs_image_listing rule, int depth, cs_pathlist *out) {
    DIR *d = opendir(dir);
    if (!d) return CS_FAIL(CS_E_IO, "%s: cannot list directory: %s", dir, strerror(errno));
    cs_status st = CS_OK;
    struct dirent *e;
    while ((e = readdir(d)) && st == CS_OK) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[8192];
        int len = snprintf(p, sizeof p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        if (len < 0 || (size_t)len >= sizeof p) continue;
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            /* clean-fid's "**" descends into every directory glob does not hide */
            if (rule == CS_LISTING_CLEAN_FID && e->d_name[0] != '.') {
                if (depth >= 32) {
                    st = CS_FAIL(CS_E_USAGE, "%s: directories nested more than 32 deep (a symbolic link loop?)", p);
                } else {
                    st = cs_expand_dir_walk(p, rule, depth + 1, out);
                }
            }
            continue;
        }
        if (!S_ISREG(sb.st_mode) || !cs_image_listed(e->d_name, rule)) continue;
        size_t nl = strlen(e->d_name);
        if (rule == CS_LISTING_CLEAN_FID && nl > 4 && !strcmp(e->d_name + nl - 4, ".npy")) {
            st = CS_FAIL(CS_E_UNSUPPORTED, "%s: clean-fid reads .npy arrays as images; copyscope does not "
                                           "(convert it to PNG or move it out of the folder)", p);
            break;
        }
        if (rule == CS_LISTING_TORCH_FIDELITY) { /* it lists (and sorts) real paths */
            char *real = realpath(p, NULL);
            if (!real) continue;
            st = cs_pathlist_push(out, real);
            free(real);
        } else {
            st = cs_pathlist_push(out, p);
        }
    }
    closedir(d);
    return st;
}

static cs_status cs_expand_dir(const char *dir, cs_image_listing rule, cs_pathlist *out) {
    size_t first = out->n;
    CS_TRY(cs_expand_dir_walk(dir, rule, 0, out));
    if (out->n == first)
        return CS_FAIL(CS_E_USAGE, "%s: no image files (looked for %s)", dir, cs_image_listing_describe(rule));
    /* every peer sorts the whole paths (torch-fidelity: the real paths it lists) */
    qsort(out->paths + first, out->n - first, sizeof *out->paths, cs_cmp_path);
    return CS_OK;
}

cs_status cs_pathlist_expand(const char *const *inputs, size_t n_inputs, cs_pathlist *out) {
    return cs_pathlist_expand_listing(inputs, n_inputs, CS_LISTING_PYTORCH_FID, out);
}

cs_status cs_pathlist_expand_listing(const char *const *inputs, size_t n_inputs, cs_image_listing rule,
                                     cs_pathlist *out) {
    memset(out, 0, sizeof *out);
    cs_status st = CS_OK;
    for (size_t i = 0; i < n_inputs && st == CS_OK; i++) {
        struct stat sb;
        if (stat(inputs[i], &sb) != 0) {
            st = errno == ENOENT ? CS_FAIL(CS_E_NOTFOUND, "%s: no such file or directory", inputs[i])
                                 : CS_FAIL(CS_E_IO, "%s: %s", inputs[i], strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            st = cs_expand_dir(inputs[i], rule, out);
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
    float *input;             /* (m, 3, S, S) float32, S the model's input side */
    size_t in_elems;          /* 3 S S */
    cs_model_kind kind;       /* the model's preprocessing */
    int keep_rgb;             /* 1: decode only, into imgs (the device preprocesses) */
    cs_image *imgs;           /* (B) decoded images of the misses (keep_rgb) */
    uint8_t *packed;          /* cs_job_pack: the batch's images, packed at items[j].offset */
    const cs_rgb_item *items; /* (m) */
    cs_protocol protocol;     /* host preprocessing */
} cs_batch_ctx;

/* The preprocessing identity of features: a ViT's own, else the FID protocol's (Inception). */
static const char *cs_features_preprocess_id(int model, int protocol) {
    if (model != CS_MODEL_INCEPTION) return cs_model_kind_preprocess_id((cs_model_kind)model);
    const char *pid = cs_protocol_preprocess_id((cs_protocol)protocol);
    return pid ? pid : CS_PREPROCESS_ID;
}

/* One decoded image into the network's input: the model's preprocessing, the Inception network's
 * as the FID protocol says. */
static cs_status cs_features_preprocess_one(const cs_batch_ctx *b, const uint8_t *rgb, int w, int h, float *out) {
    if (b->kind == CS_MODEL_INCEPTION && b->protocol != CS_PROTOCOL_PYTORCH_FID)
        return cs_preprocess_rgb_protocol(b->protocol, rgb, w, h, out);
    return cs_model_kind_preprocess(b->kind, rgb, w, h, out);
}

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
    if (b->keep_rgb) {
        b->imgs[j] = img;
        return;
    }
    st = cs_features_preprocess_one(b, img.rgb, img.width, img.height, b->input + j * b->in_elems);
    cs_image_free(&img);
    if (st != CS_OK) cs_set_item_error(b, i, st);
}

/* Host preprocessing of images decoded with keep_rgb (a batch too large to pack). */
static void cs_job_preprocess(void *ctx, size_t j, int worker) {
    cs_batch_ctx *b = ctx;
    size_t i = b->todo[j];
    if (b->st[i] != CS_OK) return;
    cs_status st = cs_features_preprocess_one(b, b->imgs[j].rgb, b->imgs[j].width, b->imgs[j].height,
                                              b->input + j * b->in_elems);
    cs_image_free(&b->imgs[j]);
    if (st != CS_OK) cs_set_item_error(b, i, st);
}

/* Copy decoded image j (already compacted: every one is good) to its place in the packed buffer. */
static void cs_job_pack(void *ctx, size_t j, int worker) {
    cs_batch_ctx *b = ctx;
    memcpy(b->packed + b->items[j].offset, b->imgs[j].rgb, (size_t)b->imgs[j].width * b->imgs[j].height * 3);
    cs_image_free(&b->imgs[j]);
}

/* One batch slot: the cache misses of one input chunk on their way through a device. The
 * producer fills it, a device worker reads input and writes feat, the producer takes it back. */
typedef struct cs_slot {
    cs_sched_batch b;   /* b.input = input or b.rgb = rgb, b.feat = feat, b.user = this slot */
    float *input;       /* (B, 3, S, S) float32, scheduler host memory (pinned on a GPU);
                         * allocated when first needed if the devices preprocess */
    uint8_t *rgb;       /* packed decoded images, scheduler host memory, grown as needed */
    size_t rgb_cap;     /* bytes */
    cs_rgb_item *items; /* (B) */
    float *feat;        /* (B, d) float32, scheduler host memory */
    uint8_t (*sha)[32]; /* (B, 32) digests of the batch's images, for the cache */
    size_t *row;        /* (B) output row of each image */
    int busy;
} cs_slot;

typedef struct cs_extract {
    const cs_features_opts *opts;
    cs_features *out;
    size_t d, B;
    cs_model_kind kind; /* the feature space (opts->model) */
    size_t in_elems;    /* floats of one preprocessed image: 3 S S */
    cs_weights *w;
    cs_cache *cache;
    /* the producer's per-chunk buffers (B input files) */
    cs_threadpool *pool;
    cs_batch_ctx b;
    size_t *todo;          /* (B) indices of the chunk's cache misses */
    unsigned char *hit;    /* (B) 1: found in the cache */
    float *cached;         /* (B, d) float32, the features of the hits */
    cs_sched *sched;
    cs_slot *slots;
    int nslots;
    int device_preprocess; /* the devices take decoded RGB (cs_sched_preprocesses) */
    size_t rgb_budget;     /* packed bytes per batch at most (CS_RGB_BATCH_MAX_BYTES) */
    size_t n_settled;   /* images whose row is final (or skipped), for the progress line */
    cs_status err;      /* the first failure; the run stops at it */
    char errmsg[1200];
} cs_extract;

static void cs_extract_fail(cs_extract *x, cs_status st, const char *msg) {
    if (x->err == CS_OK) {
        x->err = st;
        snprintf(x->errmsg, sizeof x->errmsg, "%s", msg);
    }
    if (x->sched) cs_sched_cancel(x->sched);
}

/* The devices and their models, at the first batch that needs them (a run served from the cache
 * never touches a GPU), and the batch slots: one inline, three per device otherwise (a device
 * keeps two in flight, the next upload overlapping the current compute, while the producer
 * decodes a third). */
static cs_status cs_extract_start(cs_extract *x) {
    cs_device_list devs;
    const cs_features_testing *t = &x->opts->testing;
    const char *device = x->opts->device;
    if (x->kind != CS_MODEL_INCEPTION && (!device || !strcmp(device, "auto"))) {
        /* the Vision Transformers have no GPU kernels yet: "auto" means the CPU for them, without
         * probing for GPUs (an explicit cuda device is refused by cs_model_create) */
        device = "cpu";
    }
    CS_TRY(cs_device_list_get(device, t->cpu_devices, x->opts->threads, &devs));
    static atomic_int noticed; /* once per process: an audit extracts many sets */
    if (devs.notice[0] && !x->opts->quiet && !atomic_exchange(&noticed, 1))
        fprintf(stderr, "copyscope: %s\n", devs.notice);
    const cs_sched_opts so = {.precision = x->opts->precision,
                              .dims = x->opts->dims,
                              .fail = t->fail,
                              .fail_batch = t->fail_batch,
                              .model = {.cpu_async = t->cpu_async,
                                        .cpu_preprocess = t->cpu_preprocess,
                                        .vit_any_depth = t->vit_any_depth}};
    CS_TRY(cs_sched_create(&devs, x->w, &so, &x->sched));
    x->nslots = cs_sched_inline(x->sched) ? 1 : 3 * cs_sched_devices(x->sched);
    /* the devices' own preprocessing is pytorch-fid's: other protocols are preprocessed here */
    x->device_preprocess = cs_sched_preprocesses(x->sched) && x->opts->protocol == CS_PROTOCOL_PYTORCH_FID;
    x->rgb_budget = t->rgb_batch_bytes ? t->rgb_batch_bytes : CS_RGB_BATCH_MAX_BYTES;
    x->slots = cs_calloc((size_t)x->nslots, sizeof *x->slots, "batch slots");
    if (!x->slots) return CS_E_NOMEM;
    for (int i = 0; i < x->nslots; i++) {
        cs_slot *sl = &x->slots[i];
        if (!x->device_preprocess)
            CS_TRY(cs_sched_host_alloc(x->sched, x->B * x->in_elems * sizeof(float), (void **)&sl->input));
        CS_TRY(cs_sched_host_alloc(x->sched, x->B * x->d * sizeof(float), (void **)&sl->feat));
        sl->items = cs_malloc(x->B * sizeof *sl->items, "batch images");
        sl->sha = cs_malloc(x->B * 32, "batch digests");
        sl->row = cs_malloc(x->B * sizeof *sl->row, "batch rows");
        if (!sl->items || !sl->sha || !sl->row) return CS_E_NOMEM;
    }
    return CS_OK;
}

/* A batch is back from its device: rows into the output, features into the cache (a part per
 * batch: a killed run keeps every finished batch), the slot free again. Completed batches are
 * kept even after another batch failed. */
static void cs_extract_complete(cs_extract *x, cs_sched_batch *b) {
    cs_slot *sl = b->user;
    sl->busy = 0;
    if (b->st != CS_OK) {
        if (b->device < 0) return; /* cancelled before it ran */
        char msg[1200];
        snprintf(msg, sizeof msg, "%s%s", b->msg,
                 x->cache ? "; the features of completed batches are in the cache (a rerun computes only the rest)" : "");
        cs_extract_fail(x, b->st, msg);
        return;
    }
    const size_t m = (size_t)b->m, d = x->d;
    for (size_t j = 0; j < m; j++) memcpy(x->out->data + sl->row[j] * d, sl->feat + j * d, d * sizeof(float));
    if (x->cache) {
        cs_status st = cs_cache_put(x->cache, m, (const uint8_t(*)[32])sl->sha, sl->feat);
        if (st == CS_OK) st = cs_cache_flush(x->cache); /* crash safety: a part per batch */
        if (st != CS_OK) {
            cs_extract_fail(x, st, cs_last_error());
            return;
        }
    }
    x->out->n_computed += m;
    if (b->rgb) x->out->n_device_preprocessed += m;
    x->n_settled += m;
}

/* A free slot, completing finished batches while none is; NULL once the run has failed. */
static cs_slot *cs_extract_slot(cs_extract *x) {
    for (;;) {
        if (x->err != CS_OK) return NULL;
        for (int i = 0; i < x->nslots; i++)
            if (!x->slots[i].busy) return &x->slots[i];
        cs_sched_batch *b = cs_sched_next_done(x->sched, 1);
        if (!b) { /* every slot busy yet nothing outstanding: a bug */
            cs_extract_fail(x, CS_E_INTERNAL, "feature pipeline: no free batch slot");
            return NULL;
        }
        cs_extract_complete(x, b);
    }
}

/* Decode the m cache misses of a batch (todo) into slot sl, dropping those that fail (their
 * st/msg are set) so that the batch stays dense; *m becomes the count left. Devices that
 * preprocess get the decoded pixels packed in sl->rgb; otherwise, or when the batch's pixels
 * exceed the budget (CS_RGB_BATCH_MAX_BYTES), the pool preprocesses into sl->input. */
static cs_status cs_extract_decode(cs_extract *x, cs_threadpool *pool, cs_batch_ctx *b, cs_slot *sl, size_t *todo,
                                   size_t *m) {
    const size_t n = *m;
    sl->b.input = NULL;
    sl->b.rgb = NULL;
    sl->b.items = NULL;
    sl->b.rgb_bytes = 0;
    b->keep_rgb = x->device_preprocess;
    b->input = sl->input;
    CS_TRY(cs_threadpool_for(pool, n, cs_job_decode, b));
    size_t total = 0;
    int pack = b->keep_rgb;
    for (size_t j = 0; j < n && pack; j++) {
        if (b->st[todo[j]] != CS_OK) continue;
        size_t bytes = (size_t)b->imgs[j].width * b->imgs[j].height * 3; /* bounded by the decoder */
        if (bytes > x->rgb_budget - total) pack = 0;
        else total += bytes;
    }
    if (b->keep_rgb && !pack) { /* too large to pack: preprocess here after all */
        if (!sl->input)
            CS_TRY(cs_sched_host_alloc(x->sched, x->B * x->in_elems * sizeof(float), (void **)&sl->input));
        b->input = sl->input;
        CS_TRY(cs_threadpool_for(pool, n, cs_job_preprocess, b));
    }
    /* drop the images that failed, keeping the batch dense */
    size_t mm = 0;
    for (size_t j = 0; j < n; j++) {
        if (b->st[todo[j]] != CS_OK) continue;
        if (mm != j) {
            if (pack) {
                b->imgs[mm] = b->imgs[j];
                b->imgs[j] = (cs_image){0};
            } else {
                memmove(sl->input + mm * x->in_elems, sl->input + j * x->in_elems, x->in_elems * sizeof(float));
            }
        }
        todo[mm++] = todo[j];
    }
    *m = mm;
    if (!pack) {
        sl->b.input = sl->input;
        return CS_OK;
    }
    if (total > sl->rgb_cap) {
        size_t cap = total + total / 4;
        if (cap > x->rgb_budget) cap = x->rgb_budget;
        cs_sched_host_free(x->sched, sl->rgb);
        sl->rgb = NULL;
        sl->rgb_cap = 0;
        CS_TRY(cs_sched_host_alloc(x->sched, cap, (void **)&sl->rgb));
        sl->rgb_cap = cap;
    }
    size_t off = 0;
    for (size_t j = 0; j < mm; j++) {
        sl->items[j] = (cs_rgb_item){.offset = off, .width = b->imgs[j].width, .height = b->imgs[j].height};
        off += (size_t)b->imgs[j].width * b->imgs[j].height * 3;
    }
    b->packed = sl->rgb;
    b->items = sl->items;
    CS_TRY(cs_threadpool_for(pool, mm, cs_job_pack, b));
    sl->b.rgb = sl->rgb;
    sl->b.rgb_bytes = total;
    sl->b.items = sl->items;
    return CS_OK;
}

/* Checks that need no file: dims, inputs, the testing pixel budget, and the --device syntax (a
 * misspelt --device fails now, not after the cached part). */
static cs_status cs_features_check_opts(const cs_features_opts *opts, size_t n) {
    if (!cs_protocol_name((cs_protocol)opts->protocol))
        return CS_FAIL(CS_E_USAGE, "unknown protocol %d", opts->protocol);
    cs_model_kind kind;
    if (!cs_model_kind_parse(opts->model, &kind))
        return CS_FAIL(CS_E_USAGE, "--model %s: unknown (inception, dinov2-vits14, dinov2-vitb14, dinov2-vitl14, "
                       "dinov2-vitg14, clip-vitl14-336)", opts->model);
    if (kind != CS_MODEL_INCEPTION && opts->protocol != CS_PROTOCOL_PYTORCH_FID)
        return CS_FAIL(CS_E_USAGE, "--protocol %s: the FID protocols apply to the Inception network, not to --model %s",
                       cs_protocol_name((cs_protocol)opts->protocol), cs_model_kind_name(kind));
    if (kind != CS_MODEL_INCEPTION && !cs_model_kind_dims_valid(kind, opts->dims))
        return CS_FAIL(CS_E_USAGE, "--dims %d: model %s has %d-d features", opts->dims, cs_model_kind_name(kind),
                       cs_model_kind_dims(kind));
    if (!cs_model_kind_dims_valid(kind, opts->dims))
        return CS_FAIL(CS_E_USAGE, "--dims must be 64, 192, 768 or 2048 (got %d)", opts->dims);
    if (n == 0) return CS_FAIL(CS_E_USAGE, "no input images");
    if (opts->testing.rgb_batch_bytes > CS_RGB_BATCH_MAX_BYTES)
        return CS_FAIL(CS_E_USAGE, "pixel budget of %zu bytes per batch (a testing aid): at most %zu",
                       opts->testing.rgb_batch_bytes, CS_RGB_BATCH_MAX_BYTES);
    cs_device_spec spec;
    if (opts->testing.cpu_devices > 0) return cs_device_spec_stand_in(opts->testing.cpu_devices, &spec);
    return cs_device_spec_parse(opts->device, &spec);
}

/* The weights (their digest into out) and the feature cache of this extractor identity. */
static cs_status cs_extract_open(cs_extract *x) {
    const cs_features_opts *opts = x->opts;
    char wpath[4096];
    if (x->kind == CS_MODEL_INCEPTION) {
        CS_TRY(cs_weights_find(opts->weights_path, wpath, sizeof wpath));
        CS_TRY(cs_weights_load(wpath, &x->w));
    } else {
        CS_TRY(cs_weights_find_named(opts->weights_path, cs_model_kind_weights_name(x->kind), cs_model_kind_name(x->kind),
                                     wpath, sizeof wpath));
        CS_TRY(cs_weights_load_ex(wpath, CS_WEIGHTS_ANY_MODEL, &x->w));
        cs_model_kind got;
        CS_TRY(cs_model_kind_of_weights(x->w, &got));
        if (got != x->kind)
            return CS_FAIL(CS_E_MISMATCH, "%s: weights of %s, not of --model %s", wpath, cs_model_kind_name(got),
                           cs_model_kind_name(x->kind));
    }
    snprintf(x->out->weights_sha256, sizeof x->out->weights_sha256, "%s", cs_weights_sha256(x->w));
    x->out->dims = opts->dims;
    x->out->model = x->kind;
    x->out->protocol = opts->protocol;
    if (!opts->use_cache) return CS_OK;
    char id[1024];
    snprintf(id, sizeof id, "copyscope-features-v1;weights=%s;dims=%d;preprocess=%s;precision=%s",
             x->out->weights_sha256, opts->dims, cs_features_preprocess_id(x->kind, opts->protocol),
             opts->precision ? opts->precision : "fp32");
    if (x->kind != CS_MODEL_INCEPTION) /* a ViT's key names its model too (Inception's key is unchanged) */
        snprintf(id + strlen(id), sizeof id - strlen(id), ";model=%s", cs_model_kind_name(x->kind));
    return cs_cache_open(opts->cache_dir, id, opts->dims, &x->cache);
}

/* The decode pool, the output (sized for all n inputs; rows of skipped files are compacted
 * away) and the producer's per-chunk buffers. */
static cs_status cs_extract_alloc(cs_extract *x, size_t n) {
    const size_t B = x->B, d = x->d;
    cs_batch_ctx *b = &x->b;
    x->pool = cs_threadpool_create(x->opts->threads);
    if (!x->pool) return CS_E_NOMEM;
    size_t bytes;
    if (!cs_mul_size(n, d * sizeof(float), &bytes))
        return CS_FAIL(CS_E_NOMEM, "feature matrix of %zu x %zu does not fit in memory", n, d);
    x->out->data = cs_malloc(bytes, "feature matrix");                 /* (n, d) float32 */
    x->out->sha256 = cs_malloc(n * sizeof *x->out->sha256, "digests"); /* (n) hex */
    b->sha = cs_malloc(B * 32, "digests");                              /* (B, 32) */
    b->bytes = cs_calloc(B, sizeof *b->bytes, "file buffers");
    b->len = cs_calloc(B, sizeof *b->len, "file sizes");
    b->st = cs_calloc(B, sizeof *b->st, "statuses");
    b->msg = cs_calloc(B, sizeof *b->msg, "messages");
    b->imgs = cs_calloc(B, sizeof *b->imgs, "decoded images");
    x->todo = cs_malloc(B * sizeof *x->todo, "batch indices");
    x->hit = cs_malloc(B, "cache hits");
    x->cached = cs_malloc(B * d * sizeof(float), "cached features"); /* (B, d) float32 */
    if (!x->out->data || !x->out->sha256 || !b->sha || !b->bytes || !b->len || !b->st || !b->msg || !b->imgs ||
        !x->todo || !x->hit || !x->cached)
        return CS_E_NOMEM;
    b->todo = x->todo;
    b->protocol = (cs_protocol)x->opts->protocol;
    return CS_OK;
}

/* Cache lookup for the k files of the chunk that could be read: hits into x->cached (their file
 * bytes freed), misses listed in x->todo. *m: the misses, *n_hits: the hits. */
static cs_status cs_extract_lookup(cs_extract *x, size_t k, size_t *m, size_t *n_hits) {
    cs_batch_ctx *b = &x->b;
    size_t unused;
    *m = *n_hits = 0;
    memset(x->hit, 0, k);
    if (x->cache) CS_TRY(cs_cache_lookup(x->cache, k, (const uint8_t(*)[32])b->sha, x->cached, x->hit, &unused));
    for (size_t i = 0; i < k; i++) {
        if (b->st[i] != CS_OK) x->hit[i] = 0; /* its digest is stale: never a hit */
        if (x->hit[i]) {
            (*n_hits)++;
            free(b->bytes[i]);
            b->bytes[i] = NULL;
        } else if (b->st[i] == CS_OK) {
            x->todo[(*m)++] = i;
        }
    }
    return CS_OK;
}

/* The chunk's files that could not be read or decoded: settled, and listed as skipped
 * (--skip-bad) or the run failed at the first of them. CS_OK to go on. */
static cs_status cs_extract_settle_bad(cs_extract *x, size_t k) {
    cs_batch_ctx *b = &x->b;
    cs_features *out = x->out;
    size_t first_bad = k;
    for (size_t i = 0; i < k; i++)
        if (b->st[i] != CS_OK) {
            if (first_bad == k) first_bad = i;
            x->n_settled++;
            if (x->opts->skip_bad) {
                cs_status st = cs_pathlist_push(&out->skipped, b->paths[i]);
                char **nw = st == CS_OK ? realloc(out->skipped_why, out->skipped.n * sizeof *nw) : NULL;
                if (!nw) {
                    cs_extract_fail(x, st == CS_OK ? CS_E_NOMEM : st, st == CS_OK ? "out of memory" : cs_last_error());
                    return x->err;
                }
                out->skipped_why = nw;
                nw[out->skipped.n - 1] = b->msg[i] ? b->msg[i] : strdup("unreadable");
                b->msg[i] = NULL;
            }
        }
    if (first_bad < k && !x->opts->skip_bad) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s (use --skip-bad to continue past bad images)",
                 b->msg[first_bad] ? b->msg[first_bad] : b->paths[first_bad]);
        cs_extract_fail(x, b->st[first_bad], msg);
        return x->err;
    }
    return CS_OK;
}

/* Rows in input order: the cached ones filled now, the computed ones (the m misses in slot sl)
 * when their batch comes back. */
static cs_status cs_extract_place_rows(cs_extract *x, size_t k, cs_slot *sl, size_t m) {
    cs_batch_ctx *b = &x->b;
    cs_features *out = x->out;
    const size_t d = x->d;
    for (size_t i = 0, j = 0; i < k; i++) {
        if (b->st[i] != CS_OK) continue;
        const size_t row = out->n;
        if (x->hit[i]) {
            memcpy(out->data + row * d, x->cached + i * d, d * sizeof(float));
            x->n_settled++;
        } else {
            CS_ASSERT(sl && j < m && x->todo[j] == i);
            sl->row[j] = row;
            memcpy(sl->sha[j], b->sha[i], 32);
            j++;
        }
        cs_sha256_hex(b->sha[i], out->sha256[row]);
        CS_TRY(cs_pathlist_push(&out->paths, b->paths[i]));
        out->n++;
    }
    return CS_OK;
}

/* Hand slot sl, holding the m misses of chunk bi (input files [start, start + k)), to the
 * scheduler. */
static void cs_extract_submit(cs_extract *x, cs_slot *sl, size_t bi, size_t start, size_t k, size_t m) {
    sl->busy = 1;
    sl->b.id = bi;
    sl->b.first = start;
    sl->b.count = k;
    sl->b.m = (int)m;
    sl->b.feat = sl->feat;
    sl->b.user = sl;
    cs_sched_submit(x->sched, &sl->b);
}

/* One chunk of k input files from start (chunk bi): read + hash, cache lookup, decode +
 * preprocess the misses into a free slot, rows, then the slot to the scheduler. A failure is
 * recorded in x (cs_extract_fail) and ends the run. */
static void cs_extract_chunk(cs_extract *x, const cs_pathlist *files, size_t start, size_t k, size_t bi) {
    cs_batch_ctx *b = &x->b;
    b->paths = (const char *const *)files->paths + start;
    memset(b->st, 0, k * sizeof *b->st);
    cs_status st = cs_threadpool_for(x->pool, k, cs_job_read_hash, b);
    size_t m = 0, n_hits = 0;
    if (st == CS_OK) st = cs_extract_lookup(x, k, &m, &n_hits);
    if (st != CS_OK) {
        cs_extract_fail(x, st, cs_last_error());
        return;
    }
    cs_slot *sl = NULL;
    if (m > 0) {
        if (!x->sched && (st = cs_extract_start(x)) != CS_OK) {
            cs_extract_fail(x, st, cs_last_error());
            return;
        }
        sl = cs_extract_slot(x);
        if (!sl) return;
        st = cs_extract_decode(x, x->pool, b, sl, x->todo, &m);
        if (st != CS_OK) {
            cs_extract_fail(x, st, cs_last_error());
            return;
        }
    }
    /* a bad file stops the run (after saving what was computed) unless --skip-bad */
    if (cs_extract_settle_bad(x, k) != CS_OK) return;
    st = cs_extract_place_rows(x, k, sl, m);
    if (st != CS_OK) {
        cs_extract_fail(x, st, cs_last_error());
        return;
    }
    x->out->n_from_cache += n_hits;
    for (size_t i = 0; i < k; i++) {
        free(b->msg[i]);
        b->msg[i] = NULL;
    }
    if (m > 0) cs_extract_submit(x, sl, bi, start, k, m);
}

static void cs_extract_progress(const cs_extract *x, size_t n, double t0) {
    double el = cs_now() - t0;
    fprintf(stderr, "\rfeatures: %zu/%zu images (%.1f img/s)", x->n_settled, n, (double)x->n_settled / (el > 0 ? el : 1));
    fflush(stderr);
}

/* Everything of the run but out: the scheduler first (it joins the device threads before their
 * slots go; the slots' host memory goes with it). */
static void cs_extract_close(cs_extract *x) {
    cs_batch_ctx *b = &x->b;
    cs_sched_free(x->sched);
    for (int i = 0; x->slots && i < x->nslots; i++) {
        free(x->slots[i].items);
        free(x->slots[i].sha);
        free(x->slots[i].row);
    }
    free(x->slots);
    for (size_t i = 0; i < x->B && b->bytes; i++) free(b->bytes[i]);
    for (size_t i = 0; i < x->B && b->msg; i++) free(b->msg[i]);
    for (size_t i = 0; i < x->B && b->imgs; i++) cs_image_free(&b->imgs[i]);
    free(b->sha), free(b->bytes), free(b->len), free(b->st), free(b->msg), free(b->imgs);
    free(x->todo), free(x->hit), free(x->cached);
    cs_threadpool_free(x->pool);
    cs_cache_close(x->cache);
    cs_weights_free(x->w);
}

cs_status cs_features_extract(const cs_pathlist *files, const cs_features_opts *opts, cs_features *out) {
    memset(out, 0, sizeof *out);
    const size_t n = files->n, d = (size_t)opts->dims;
    const size_t B = opts->batch > 0 ? (size_t)opts->batch : 50;
    double t0 = cs_now();
    cs_extract x = {.opts = opts, .out = out, .d = d, .B = B};
    CS_TRY(cs_features_check_opts(opts, n));
    (void)cs_model_kind_parse(opts->model, &x.kind);
    x.in_elems = (size_t)3 * cs_model_kind_input_size(x.kind) * cs_model_kind_input_size(x.kind);
    x.b.kind = x.kind;
    x.b.in_elems = x.in_elems;
    cs_status st = cs_extract_open(&x);
    if (st == CS_OK) st = cs_extract_alloc(&x, n);
    if (st != CS_OK) goto done;

    /* The producer (this thread): each chunk of B input files into a free slot, handed to the
     * scheduler. With worker threads, chunk t+1 is decoded while a device computes chunk t. */
    for (size_t start = 0, bi = 0; start < n && x.err == CS_OK; start += B, bi++) {
        if (cs_cancel_requested()) { /* cancel.h: stop between batches, keep what was computed */
            cs_extract_fail(&x, CS_E_INTERRUPTED, "interrupted");
            break;
        }
        cs_extract_chunk(&x, files, start, n - start < B ? n - start : B, bi);
        if (x.err != CS_OK) break;
        /* take back whatever has finished meanwhile (inline: this batch) */
        for (cs_sched_batch *db; x.sched && (db = cs_sched_next_done(x.sched, 0));) cs_extract_complete(&x, db);
        if (opts->progress) cs_extract_progress(&x, n, t0);
    }
    /* wait for the batches still on the devices (after a failure: the running ones finish and
     * are saved, the queued ones come back unrun) */
    for (cs_sched_batch *db; x.sched && (db = cs_sched_next_done(x.sched, 1));) cs_extract_complete(&x, db);
    if (opts->progress) fprintf(stderr, "\n");
    if (x.err != CS_OK) {
        st = cs_error_set(x.err, __FILE__, __LINE__, "%s", x.errmsg);
        goto done;
    }
    if (out->n == 0) st = CS_FAIL(CS_E_USAGE, "no image could be read (%zu skipped)", out->skipped.n);

done:
    cs_extract_close(&x);
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
    snprintf(s->id.preprocessing, sizeof s->id.preprocessing, "%s", cs_features_preprocess_id(f->model, f->protocol));
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
    const int slot = cs_tmp_track(tmp); /* unlinked if a signal ends the run before the rename */
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
    CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "preprocessing", cs_features_preprocess_id(f->model, f->protocol), path), fail);
    if (f->model != CS_MODEL_INCEPTION)
        CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "model", cs_model_kind_name((cs_model_kind)f->model), path), fail);
    else
        CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "protocol", cs_protocol_name((cs_protocol)f->protocol), path), fail);
    CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "copyscope_version", COPYSCOPE_VERSION, path), fail);
    CS_TRY_GOTO(st, cs_h5_write_attr_str(file, "kind", "features", path), fail);
    free(hex);
    hex = NULL;
    CS_TRY_GOTO(st, cs_h5_commit(&file, tmp, path), fail);
    cs_tmp_untrack(slot);
    return CS_OK;
fail:
    free(hex);
    if (file >= 0) H5Fclose(file);
    unlink(tmp);
    cs_tmp_untrack(slot);
    return st;
}
