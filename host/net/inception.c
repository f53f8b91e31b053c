/* The FID Inception-v3 forward pass (pytorch-fid's fid_inception_v3), on any backend.
 *
 * Layer geometry comes from the conv table (inception_arch.c); the wiring below follows
 * REFERENCE.md section 2 and tools/fid_inception_torch.py. BatchNorm is folded into each
 * convolution at model creation. Activations live in two regions of one device arena used
 * in ping-pong: every stage (a stem layer or a Mixed block) reads its input from one region
 * and writes its output and temporaries into the other, which it first resets. The same
 * forward code runs once in "plan" mode (no ops, only sizes) to size the regions, so the
 * arena is computed first, allocated once per chunk size and reused.
 * When the backend offers workers (the CPU: one per thread), a chunk runs as independent
 * one-image forwards in parallel workers, each with its own pair of regions, instead of
 * one batch whose every layer ends in a barrier; the numbers are the same either way (each
 * image's arithmetic does not depend on the batch). */
#include "net/backend.h"
#include "core/common.h"
#include "copyscope/model.h"
#include "net/inception_arch.h"
#include "net/device_spec.h"
#include "net/vit.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define CS_MODEL_MAX_WORKERS 64

typedef struct conv_layer {
    const cs_conv_spec *spec;
    const float *w; /* (cout, cin, kh, kw) float32 folded, device */
    const float *b; /* (cout) float32 folded bias, device */
} conv_layer;

/* One of the two batches a model can have in flight (cs_model_submit). Fences: FENCE_IN(s) on
 * the copy queue after the slot's upload, FENCE_DONE(s) on the compute queue after its features'
 * download; din is free for the next upload into the slot once FENCE_DONE(s) is passed. */
typedef struct pipe_slot {
    void *din;          /* device: the slot's upload (float input, or packed uint8 RGB) */
    size_t din_cap;     /* bytes */
    int pending;        /* submitted and not yet collected */
    int in_flight;      /* pending on an asynchronous backend: collect waits for FENCE_DONE */
    int fenced;         /* FENCE_DONE was recorded at least once */
} pipe_slot;
#define FENCE_IN(s) (s)
#define FENCE_DONE(s) (2 + (s))

struct cs_model {
    cs_backend *be;
    float *params;              /* device: all folded weights and biases */
    conv_layer convs[CS_INCEPTION_NUM_CONVS];
    int chunk_max;              /* images per forward chunk (backend preference) */
    int chunk_cap;              /* images the arena is sized for (0: none yet) */
    float *arena;               /* device: input (chunk, 3, 299, 299) | feats (chunk, 2048) | regions */
    size_t region_floats[2];    /* per-region capacity for chunk_cap images */
    float *host_x;              /* (chunk_max, 3, 299, 299) float32 host staging for features_rgb */
    uint8_t *host_rgb;          /* features_rgb: a chunk's images packed (host) */
    size_t host_rgb_cap;        /* bytes */
    cs_rgb_item *host_items;    /* (chunk_max) */
    pipe_slot pipe[2];          /* cs_model_submit / cs_model_collect */
    int async;                  /* the backend has asynchronous transfers (backend.h) */
    int device_preprocess;      /* cs_model_preprocesses */
    int workers;                /* > 1: images run in parallel workers (see backend.h) */
    float *warena[CS_MODEL_MAX_WORKERS]; /* per worker: regions for one image */
    size_t wregion_floats[2];
    char notice[256];
    char precision[8];          /* "fp32", "tf32", "fp16" */
    cs_model_kind kind;         /* the network (from the weights) */
    cs_vit *vit;                /* a Vision Transformer (CPU), or NULL for Inception */
};

/* ---- forward context ---------------------------------------------------------------------- */

typedef struct tensor {
    float *d; /* device; NULL in plan mode */
    int c, h, w;
} tensor;

typedef struct fwd {
    cs_model *m;
    int n;          /* images in this chunk */
    int plan;       /* 1: only measure region sizes */
    int region;     /* region the current stage writes */
    float *base[2];
    size_t top[2], need[2]; /* floats */
    cs_status st;
} fwd;

static void stage_begin(fwd *f) {
    f->region ^= 1;
    f->top[f->region] = 0;
}

static tensor talloc(fwd *f, int c, int h, int w) {
    tensor t = {NULL, c, h, w};
    size_t sz = (size_t)f->n * (size_t)c * (size_t)h * (size_t)w;
    sz = (sz + 15) & ~(size_t)15; /* keep every tensor 64-byte aligned */
    size_t off = f->top[f->region];
    f->top[f->region] += sz;
    if (f->top[f->region] > f->need[f->region]) f->need[f->region] = f->top[f->region];
    if (!f->plan) t.d = f->base[f->region] + off;
    return t;
}

static const conv_layer *layer(fwd *f, const char *block, const char *branch) {
    char name[64];
    if (branch) snprintf(name, sizeof name, "%s.%s", block, branch);
    else snprintf(name, sizeof name, "%s", block);
    int i = cs_inception_conv_index(name);
    CS_ASSERT(i >= 0);
    return &f->m->convs[i];
}

/* conv + folded BN + ReLU of `in` into channels [off, off + cout) of `out`. */
static void conv_into(fwd *f, const conv_layer *L, tensor in, tensor out, int off) {
    const cs_conv_spec *s = L->spec;
    cs_conv2d_params p = {
        .n = f->n, .cin = in.c, .h = in.h, .w = in.w, .cout = s->cout, .kh = s->kh, .kw = s->kw,
        .stride = s->stride, .ph = s->ph, .pw = s->pw,
        .hout = cs_out_size(in.h, s->kh, s->stride, s->ph),
        .wout = cs_out_size(in.w, s->kw, s->stride, s->pw),
        .out_c_total = out.c, .out_c_offset = off, .relu = 1};
    CS_ASSERT(in.c == s->cin && p.hout == out.h && p.wout == out.w && off + s->cout <= out.c);
    if (f->plan || f->st != CS_OK) return;
    f->st = f->m->be->iface->conv2d(f->m->be, &p, in.d, L->w, L->b, out.d);
}

static tensor conv_new(fwd *f, const conv_layer *L, tensor in) {
    const cs_conv_spec *s = L->spec;
    tensor out = talloc(f, s->cout, cs_out_size(in.h, s->kh, s->stride, s->ph),
                        cs_out_size(in.w, s->kw, s->stride, s->pw));
    conv_into(f, L, in, out, 0);
    return out;
}

/* 3x3 pool (max or avg without padding count) of `in` into channels [off, off + c) of `out`. */
static void pool_into(fwd *f, int is_max, int stride, int pad, tensor in, tensor out, int off) {
    cs_pool_params p = {.n = f->n, .c = in.c, .h = in.h, .w = in.w, .stride = stride, .pad = pad,
                        .hout = cs_out_size(in.h, 3, stride, pad),
                        .wout = cs_out_size(in.w, 3, stride, pad),
                        .out_c_total = out.c, .out_c_offset = off};
    CS_ASSERT(p.hout == out.h && p.wout == out.w && off + in.c <= out.c);
    if (f->plan || f->st != CS_OK) return;
    cs_backend *be = f->m->be;
    f->st = is_max ? be->iface->maxpool3(be, &p, in.d, out.d) : be->iface->avgpool3(be, &p, in.d, out.d);
}

static tensor pool_new(fwd *f, int is_max, int stride, int pad, tensor in) {
    tensor out = talloc(f, in.c, cs_out_size(in.h, 3, stride, pad), cs_out_size(in.w, 3, stride, pad));
    pool_into(f, is_max, stride, pad, in, out, 0);
    return out;
}

/* ---- blocks ------------------------------------------------------------------------------- */

/* Mixed_5b/5c/5d: [1x1 64, 5x5 64, 3x3dbl 96, avgpool + 1x1 pool_features] */
static tensor inception_a(fwd *f, const char *blk, tensor x) {
    stage_begin(f);
    const conv_layer *bp = layer(f, blk, "branch_pool");
    tensor out = talloc(f, 64 + 64 + 96 + bp->spec->cout, x.h, x.w);
    conv_into(f, layer(f, blk, "branch1x1"), x, out, 0);
    tensor t = conv_new(f, layer(f, blk, "branch5x5_1"), x);
    conv_into(f, layer(f, blk, "branch5x5_2"), t, out, 64);
    t = conv_new(f, layer(f, blk, "branch3x3dbl_1"), x);
    t = conv_new(f, layer(f, blk, "branch3x3dbl_2"), t);
    conv_into(f, layer(f, blk, "branch3x3dbl_3"), t, out, 128);
    t = pool_new(f, 0, 1, 1, x);
    conv_into(f, bp, t, out, 224);
    return out;
}

/* Mixed_6a: [3x3 s2 384, 3x3dbl s2 96, maxpool s2] */
static tensor inception_b(fwd *f, const char *blk, tensor x) {
    stage_begin(f);
    const int ho = cs_out_size(x.h, 3, 2, 0), wo = cs_out_size(x.w, 3, 2, 0);
    tensor out = talloc(f, 384 + 96 + x.c, ho, wo);
    conv_into(f, layer(f, blk, "branch3x3"), x, out, 0);
    tensor t = conv_new(f, layer(f, blk, "branch3x3dbl_1"), x);
    t = conv_new(f, layer(f, blk, "branch3x3dbl_2"), t);
    conv_into(f, layer(f, blk, "branch3x3dbl_3"), t, out, 384);
    pool_into(f, 1, 2, 0, x, out, 480);
    return out;
}

/* Mixed_6b..6e: [1x1 192, 7x7 192, 7x7dbl 192, avgpool + 1x1 192] */
static tensor inception_c(fwd *f, const char *blk, tensor x) {
    stage_begin(f);
    tensor out = talloc(f, 768, x.h, x.w);
    conv_into(f, layer(f, blk, "branch1x1"), x, out, 0);
    tensor t = conv_new(f, layer(f, blk, "branch7x7_1"), x);
    t = conv_new(f, layer(f, blk, "branch7x7_2"), t);
    conv_into(f, layer(f, blk, "branch7x7_3"), t, out, 192);
    t = conv_new(f, layer(f, blk, "branch7x7dbl_1"), x);
    t = conv_new(f, layer(f, blk, "branch7x7dbl_2"), t);
    t = conv_new(f, layer(f, blk, "branch7x7dbl_3"), t);
    t = conv_new(f, layer(f, blk, "branch7x7dbl_4"), t);
    conv_into(f, layer(f, blk, "branch7x7dbl_5"), t, out, 384);
    t = pool_new(f, 0, 1, 1, x);
    conv_into(f, layer(f, blk, "branch_pool"), t, out, 576);
    return out;
}

/* Mixed_7a: [3x3 s2 320, 7x7x3 s2 192, maxpool s2] */
static tensor inception_d(fwd *f, const char *blk, tensor x) {
    stage_begin(f);
    const int ho = cs_out_size(x.h, 3, 2, 0), wo = cs_out_size(x.w, 3, 2, 0);
    tensor out = talloc(f, 320 + 192 + x.c, ho, wo);
    tensor t = conv_new(f, layer(f, blk, "branch3x3_1"), x);
    conv_into(f, layer(f, blk, "branch3x3_2"), t, out, 0);
    t = conv_new(f, layer(f, blk, "branch7x7x3_1"), x);
    t = conv_new(f, layer(f, blk, "branch7x7x3_2"), t);
    t = conv_new(f, layer(f, blk, "branch7x7x3_3"), t);
    conv_into(f, layer(f, blk, "branch7x7x3_4"), t, out, 320);
    pool_into(f, 1, 2, 0, x, out, 512);
    return out;
}

/* Mixed_7b (avg pool branch) / Mixed_7c (max pool branch):
 * [1x1 320, 3x3_2a 384, 3x3_2b 384, 3x3dbl_3a 384, 3x3dbl_3b 384, pool + 1x1 192] */
static tensor inception_e(fwd *f, const char *blk, tensor x, int max_pool) {
    stage_begin(f);
    tensor out = talloc(f, 2048, x.h, x.w);
    conv_into(f, layer(f, blk, "branch1x1"), x, out, 0);
    tensor t = conv_new(f, layer(f, blk, "branch3x3_1"), x);
    conv_into(f, layer(f, blk, "branch3x3_2a"), t, out, 320);
    conv_into(f, layer(f, blk, "branch3x3_2b"), t, out, 704);
    t = conv_new(f, layer(f, blk, "branch3x3dbl_1"), x);
    t = conv_new(f, layer(f, blk, "branch3x3dbl_2"), t);
    conv_into(f, layer(f, blk, "branch3x3dbl_3a"), t, out, 1088);
    conv_into(f, layer(f, blk, "branch3x3dbl_3b"), t, out, 1472);
    t = pool_new(f, max_pool, 1, 1, x);
    conv_into(f, layer(f, blk, "branch_pool"), t, out, 1856);
    return out;
}

static tensor stem_conv(fwd *f, const char *name, tensor x) {
    stage_begin(f);
    return conv_new(f, layer(f, name, NULL), x);
}

static tensor stem_maxpool(fwd *f, tensor x) {
    stage_begin(f);
    return pool_new(f, 1, 2, 0, x);
}

/* The network up to the block that dims needs; returns that block's output (n, c, h, w). */
static tensor forward_blocks(fwd *f, tensor x, int dims) {
    f->region = 1; /* the first stage writes region 0 */
    x = stem_conv(f, "Conv2d_1a_3x3", x);
    x = stem_conv(f, "Conv2d_2a_3x3", x);
    x = stem_conv(f, "Conv2d_2b_3x3", x);
    x = stem_maxpool(f, x); /* block 0: (64, 73, 73) */
    if (dims == 64) return x;
    x = stem_conv(f, "Conv2d_3b_1x1", x);
    x = stem_conv(f, "Conv2d_4a_3x3", x);
    x = stem_maxpool(f, x); /* block 1: (192, 35, 35) */
    if (dims == 192) return x;
    x = inception_a(f, "Mixed_5b", x);
    x = inception_a(f, "Mixed_5c", x);
    x = inception_a(f, "Mixed_5d", x);
    x = inception_b(f, "Mixed_6a", x);
    x = inception_c(f, "Mixed_6b", x);
    x = inception_c(f, "Mixed_6c", x);
    x = inception_c(f, "Mixed_6d", x);
    x = inception_c(f, "Mixed_6e", x); /* block 2: (768, 17, 17) */
    if (dims == 768) return x;
    x = inception_d(f, "Mixed_7a", x);
    x = inception_e(f, "Mixed_7b", x, 0);
    x = inception_e(f, "Mixed_7c", x, 1); /* block 3: (2048, 8, 8), then global average pool */
    return x;
}

/* ---- model -------------------------------------------------------------------------------- */

int cs_model_dims_valid(int dims) { return dims == 64 || dims == 192 || dims == 768 || dims == 2048; }

static size_t input_floats(int n) { return (size_t)n * 3 * CS_MODEL_INPUT_SIZE * CS_MODEL_INPUT_SIZE; }
static size_t round16(size_t floats) { return (floats + 15) & ~(size_t)15; } /* 64-byte carving */

static int use_workers(const cs_model *m, int n) { return m->workers > 1 && n > 1; }

/* Size and allocate the arena for a chunk of n images: input and features, plus the two
 * activation regions when the chunk runs as one batch (worker mode has its own). Grows only;
 * the sizes come from a plan-mode run of the forward code. */
static cs_status ensure_arena(cs_model *m, int n) {
    size_t need[2] = {0, 0};
    if (!use_workers(m, n)) {
        fwd f = {.m = m, .n = n, .plan = 1};
        tensor x = {NULL, 3, CS_MODEL_INPUT_SIZE, CS_MODEL_INPUT_SIZE};
        forward_blocks(&f, x, 2048); /* the deepest path needs the most memory */
        need[0] = f.need[0];
        need[1] = f.need[1];
    }
    if (m->arena && m->chunk_cap >= n && m->region_floats[0] >= need[0] && m->region_floats[1] >= need[1])
        return CS_OK;
    const int cap = n > m->chunk_cap ? n : m->chunk_cap;
    for (int r = 0; r < 2; r++)
        if (m->region_floats[r] > need[r]) need[r] = m->region_floats[r];
    size_t total = round16(input_floats(cap)) + round16((size_t)cap * 2048) + need[0] + need[1];
    if (m->arena) m->be->iface->buffer_free(m->be, m->arena);
    m->arena = NULL;
    m->chunk_cap = 0;
    m->region_floats[0] = m->region_floats[1] = 0;
    CS_TRY(m->be->iface->buffer_alloc(m->be, total * sizeof(float), (void **)&m->arena));
    m->region_floats[0] = need[0];
    m->region_floats[1] = need[1];
    m->chunk_cap = cap;
    return CS_OK;
}

static cs_status fold_weights(cs_model *m, const cs_weights *w) {
    size_t total = 0;
    for (int i = 0; i < CS_INCEPTION_NUM_CONVS; i++) {
        const cs_conv_spec *s = &cs_inception_convs[i];
        total += (size_t)s->cout * s->cin * s->kh * s->kw + (size_t)s->cout;
    }
    float *host = cs_malloc(total * sizeof(float), "folded weights"); /* all layers, packed */
    if (!host) return CS_E_NOMEM;
    cs_status st = CS_OK;
    size_t off = 0;
    size_t offs[CS_INCEPTION_NUM_CONVS];
    for (int i = 0; i < CS_INCEPTION_NUM_CONVS; i++) {
        const cs_conv_spec *s = &cs_inception_convs[i];
        const size_t per_out = (size_t)s->cin * s->kh * s->kw;
        const char *parts[5] = {"conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
        cs_tensor_view v[5];
        for (int k = 0; k < 5; k++) {
            char name[96];
            snprintf(name, sizeof name, "%s.%s", s->name, parts[k]);
            CS_TRY_GOTO(st, cs_weights_tensor(w, name, &v[k]), done);
            size_t want = k == 0 ? (size_t)s->cout * per_out : (size_t)s->cout;
            if (v[k].is_int64 || !v[k].data || v[k].numel != want) {
                st = CS_FAIL(CS_E_MISMATCH, "%s: tensor %s has %zu values, expected %zu",
                             cs_weights_path(w), name, v[k].numel, want);
                goto done;
            }
        }
        float *wf = host + off, *bf = wf + (size_t)s->cout * per_out;
        for (int co = 0; co < s->cout; co++) {
            const double g = v[1].data[co], beta = v[2].data[co], mean = v[3].data[co];
            const double var = v[4].data[co];
            const double inv = 1.0 / sqrt(var + CS_INCEPTION_BN_EPS);
            if (!(var + CS_INCEPTION_BN_EPS > 0) || !isfinite(g * inv)) {
                st = CS_FAIL(CS_E_NUMERIC, "%s: %s.bn has running_var %g (not usable)",
                             cs_weights_path(w), s->name, var);
                goto done;
            }
            const double scale = g * inv;
            for (size_t k = 0; k < per_out; k++)
                wf[co * per_out + k] = (float)((double)v[0].data[co * per_out + k] * scale);
            bf[co] = (float)(beta - mean * scale);
        }
        offs[i] = off;
        off += (size_t)s->cout * per_out + (size_t)s->cout;
    }
    CS_TRY_GOTO(st, m->be->iface->buffer_alloc(m->be, total * sizeof(float), (void **)&m->params), done);
    CS_TRY_GOTO(st, m->be->iface->upload(m->be, m->params, host, total * sizeof(float)), done);
    for (int i = 0; i < CS_INCEPTION_NUM_CONVS; i++) {
        const cs_conv_spec *s = &cs_inception_convs[i];
        m->convs[i].spec = s;
        m->convs[i].w = m->params + offs[i];
        m->convs[i].b = m->params + offs[i] + (size_t)s->cout * s->cin * s->kh * s->kw;
    }
done:
    free(host);
    return st;
}

cs_status cs_model_create(const cs_weights *w, const char *device, int threads, cs_model **out) {
    return cs_model_create_ex(w, device, NULL, threads, out);
}

cs_status cs_model_create_ex(const cs_weights *w, const char *device, const char *precision,
                             int threads, cs_model **out) {
    return cs_model_create_testing(w, device, precision, threads, NULL, out);
}

/* A Vision Transformer model: on the CPU (OpenBLAS, the default: "auto" means the CPU), or on a
 * CUDA GPU when the device names one ("cuda" is GPU 0, "cuda:N,..." its first GPU); fp32 only. */
static cs_status vit_model_create(const cs_weights *w, cs_model_kind kind, const char *device, const char *precision,
                                  int threads, const cs_model_testing *t, cs_model **out) {
    const char *dev = device ? device : "cpu";
    cs_device_spec spec;
    CS_TRY(cs_device_spec_parse(dev, &spec));
    const int gpu = spec.kind == CS_DEVSPEC_CUDA_ALL ? 0 : spec.kind == CS_DEVSPEC_CUDA_LIST ? spec.gpu[0] : -1;
    if (precision && strcmp(precision, "fp32") != 0)
        return CS_FAIL(CS_E_USAGE, "precision %s: model %s computes in fp32 only", precision, cs_model_kind_name(kind));
    if (gpu >= 0 && gpu >= cs_cuda_device_count())
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: no CUDA GPU %d here (%s); use --device cpu", dev, gpu,
                       cs_backend_cuda_why()[0] ? cs_backend_cuda_why() : "not that many GPUs");
    cs_model *m = cs_calloc(1, sizeof *m, "model");
    if (!m) return CS_E_NOMEM;
    cs_status st;
    const cs_backend_cpu_opts cpu = {.threads = threads};
    CS_TRY_GOTO(st, cs_backend_create_opts("cpu", NULL, &cpu, &m->be, m->notice, sizeof m->notice), fail);
    snprintf(m->precision, sizeof m->precision, "fp32");
    m->kind = kind;
    CS_TRY_GOTO(st, cs_vit_create(w, kind, threads, t && t->vit_any_depth, &m->vit), fail);
    if (gpu >= 0) CS_TRY_GOTO(st, cs_vit_to_gpu(m->vit, gpu), fail);
    m->chunk_max = 1 << 20;
    m->workers = 1;
    *out = m;
    return CS_OK;
fail:
    cs_model_free(m);
    return st;
}

cs_model_kind cs_model_get_kind(const cs_model *m) { return m->kind; }

cs_status cs_model_create_testing(const cs_weights *w, const char *device, const char *precision,
                                  int threads, const cs_model_testing *t, cs_model **out) {
    *out = NULL;
    if (!w) return CS_FAIL(CS_E_USAGE, "cs_model_create: no weights");
    cs_model_kind kind;
    CS_TRY(cs_model_kind_of_weights(w, &kind));
    if (kind != CS_MODEL_INCEPTION) return vit_model_create(w, kind, device, precision, threads, t, out);
    cs_model *m = cs_calloc(1, sizeof *m, "model");
    if (!m) return CS_E_NOMEM;
    cs_status st;
    const cs_backend_cpu_opts cpu = {.threads = threads, .async_emulation = t && t->cpu_async};
    CS_TRY_GOTO(st, cs_backend_create_opts(device ? device : "cpu", precision, &cpu, &m->be, m->notice,
                                           sizeof m->notice), fail);
    for (int op = 0; op < CS_OP_COUNT; op++)
        if (!m->be->iface->supports(m->be, (cs_op)op, NULL)) {
            st = CS_FAIL(CS_E_UNSUPPORTED, "device %s: backend %s lacks operation %d of the network",
                         device ? device : "cpu", m->be->iface->name, op);
            goto fail;
        }
    snprintf(m->precision, sizeof m->precision, "%s", precision ? precision : "fp32");
    CS_TRY_GOTO(st, fold_weights(m, w), fail);
    m->chunk_max = m->be->iface->preferred_batch(m->be);
    if (m->chunk_max < 1) m->chunk_max = 1;
    const cs_backend_i *bi = m->be->iface;
    m->workers = bi->max_workers && bi->workers_begin && bi->workers_end ? bi->max_workers(m->be) : 1;
    m->async = cs_backend_async(bi);
    /* Preprocessing on the device pays off where it takes work off the host and shrinks the
     * upload (a GPU: uint8 pixels instead of 299x299x3 floats); the CPU backend's op is the
     * host code itself, so the pipeline keeps it in its decode pool (parallel), except with the
     * testing aid cpu_preprocess, which sends even CPU batches this way. */
    m->device_preprocess = bi->preprocess_rgb && (m->async || (t && t->cpu_preprocess));
    if (m->workers > CS_MODEL_MAX_WORKERS) m->workers = CS_MODEL_MAX_WORKERS;
    *out = m;
    return CS_OK;
fail:
    cs_model_free(m);
    return st;
}

void cs_model_free(cs_model *m) {
    if (!m) return;
    cs_vit_free(m->vit);
    if (m->be) {
        m->be->iface->buffer_free(m->be, m->arena);
        for (int i = 0; i < CS_MODEL_MAX_WORKERS; i++) m->be->iface->buffer_free(m->be, m->warena[i]);
        m->be->iface->buffer_free(m->be, m->params);
        for (int i = 0; i < 2; i++) m->be->iface->buffer_free(m->be, m->pipe[i].din);
        cs_backend_free(m->be);
    }
    free(m->host_x);
    free(m->host_rgb);
    free(m->host_items);
    free(m);
}

cs_status cs_model_host_alloc(cs_model *m, size_t bytes, void **out) {
    *out = NULL;
    if (m->be->iface->host_alloc) return m->be->iface->host_alloc(m->be, bytes ? bytes : 1, out);
    *out = cs_malloc(bytes ? bytes : 1, "host buffer");
    return *out ? CS_OK : CS_E_NOMEM;
}

void cs_model_host_free(cs_model *m, void *p) {
    if (!p) return;
    if (m->be->iface->host_free) m->be->iface->host_free(m->be, p);
    else free(p);
}

const char *cs_model_device_name(const cs_model *m) {
    const char *g = m->vit ? cs_vit_device_name(m->vit) : NULL;
    return g ? g : m->be->iface->device_name(m->be);
}
const char *cs_model_backend_name(const cs_model *m) {
    return m->vit && cs_vit_device_name(m->vit) ? "cuda" : m->be->iface->name;
}
const char *cs_model_precision(const cs_model *m) { return m->precision; }
const char *cs_model_notice(const cs_model *m) { return m->notice; }

/* Per-worker arenas of two regions sized for one image (worker mode). */
static cs_status ensure_worker_arenas(cs_model *m, int nw) {
    if (!m->wregion_floats[0]) {
        fwd f = {.m = m, .n = 1, .plan = 1};
        tensor x = {NULL, 3, CS_MODEL_INPUT_SIZE, CS_MODEL_INPUT_SIZE};
        forward_blocks(&f, x, 2048);
        m->wregion_floats[0] = f.need[0];
        m->wregion_floats[1] = f.need[1];
    }
    for (int i = 0; i < nw; i++)
        if (!m->warena[i])
            CS_TRY(m->be->iface->buffer_alloc(
                m->be, (m->wregion_floats[0] + m->wregion_floats[1]) * sizeof(float),
                (void **)&m->warena[i]));
    return CS_OK;
}

/* Worker mode: each worker runs the whole network on one image at a time, taking the next
 * image when done; no synchronisation between layers. dx (n, 3, 299, 299) and dfeat (n, dims)
 * are device buffers. */
static cs_status forward_workers(cs_model *m, const float *dx, int n, int dims, float *dfeat) {
    cs_backend *be = m->be;
    const int nw = n < m->workers ? n : m->workers;
    CS_TRY(ensure_worker_arenas(m, nw));
    CS_TRY(be->iface->workers_begin(be));
    cs_status st = CS_OK;
    int stop = 0;
    char msg[512] = "";
#pragma omp parallel for num_threads(nw) schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        int stopped;
#pragma omp atomic read
        stopped = stop;
        if (stopped) continue; /* skip the remaining images after a failure */
        float *arena = m->warena[omp_get_thread_num()];
        fwd f = {.m = m, .n = 1, .plan = 0};
        f.base[0] = arena;
        f.base[1] = arena + m->wregion_floats[0];
        tensor t = {(float *)dx + input_floats(i), 3, CS_MODEL_INPUT_SIZE, CS_MODEL_INPUT_SIZE};
        t = forward_blocks(&f, t, dims);
        if (f.st == CS_OK) f.st = be->iface->global_avgpool(be, 1, t.c, t.h, t.w, t.d, dfeat + (size_t)i * dims);
        if (f.st != CS_OK) {
#pragma omp critical(cs_model_worker_error)
            if (st == CS_OK) { /* messages are thread-local: carry the first one out */
                st = f.st;
                snprintf(msg, sizeof msg, "%s", cs_last_error());
#pragma omp atomic write
                stop = 1;
            }
        }
    }
    be->iface->workers_end(be);
    if (st != CS_OK) return CS_FAIL(st, "%s", msg);
    return CS_OK;
}

/* The network on a chunk of n (<= chunk_cap, after ensure_arena) images whose input is at
 * device dx, features into the arena's (n, dims) block and then to host out: downloaded before
 * returning (done_fence < 0), or on an asynchronous backend enqueued with download_async and
 * done_fence recorded after it. */
static cs_status run_chunk(cs_model *m, const float *dx, int n, int dims, float *out, int done_fence) {
    cs_backend *be = m->be;
    float *dfeat = m->arena + round16(input_floats(m->chunk_cap)); /* (n, dims) */
    if (use_workers(m, n)) {
        CS_TRY(forward_workers(m, dx, n, dims, dfeat));
    } else {
        fwd f = {.m = m, .n = n, .plan = 0};
        f.base[0] = dfeat + round16((size_t)m->chunk_cap * 2048); /* region 0 */
        f.base[1] = f.base[0] + m->region_floats[0];            /* region 1 */
        tensor t = {(float *)dx, 3, CS_MODEL_INPUT_SIZE, CS_MODEL_INPUT_SIZE};
        t = forward_blocks(&f, t, dims);
        CS_TRY(f.st);
        CS_ASSERT(t.c == dims && f.need[0] <= m->region_floats[0] && f.need[1] <= m->region_floats[1]);
        CS_TRY(be->iface->global_avgpool(be, n, t.c, t.h, t.w, t.d, dfeat));
    }
    const size_t bytes = (size_t)n * dims * sizeof(float);
    if (done_fence < 0) {
        CS_TRY(be->iface->download(be, out, dfeat, bytes));
        return be->iface->synchronize(be);
    }
    CS_TRY(be->iface->download_async(be, out, dfeat, bytes));
    return be->iface->fence_record(be, done_fence, CS_QUEUE_COMPUTE);
}

/* One chunk of at most chunk_max images: host x (n, 3, 299, 299) -> host out (n, dims). */
static cs_status forward_chunk(cs_model *m, const float *x, int n, int dims, float *out) {
    CS_TRY(ensure_arena(m, n));
    CS_TRY(m->be->iface->upload(m->be, m->arena, x, input_floats(n) * sizeof(float)));
    return run_chunk(m, m->arena, n, dims, out, -1);
}

/* A failed chunk: keep the backend's message (it names the device and op), add the images. */
static cs_status chunk_failed(cs_status st, int first, int count) {
    return CS_FAIL(st, "%s (images %d..%d of this forward call)", cs_last_error(), first,
                   first + count - 1);
}

/* dims of a ViT model: its feature size only. */
static cs_status vit_check_dims(const cs_model *m, int dims) {
    if (dims != cs_model_kind_dims(m->kind))
        return CS_FAIL(CS_E_USAGE, "dims %d not supported by model %s (its features have %d)", dims,
                       cs_model_kind_name(m->kind), cs_model_kind_dims(m->kind));
    return CS_OK;
}

cs_status cs_model_forward(cs_model *m, const float *x, int n, int dims, float *out) {
    if (m->vit) {
        CS_TRY(vit_check_dims(m, dims));
        return cs_vit_forward(m->vit, x, n, out);
    }
    if (!cs_model_dims_valid(dims))
        return CS_FAIL(CS_E_USAGE, "dims %d not supported (expected 64, 192, 768 or 2048)", dims);
    if (n < 0) return CS_FAIL(CS_E_USAGE, "negative image count %d", n);
    for (int i = 0; i < n; i += m->chunk_max) {
        int k = n - i < m->chunk_max ? n - i : m->chunk_max;
        cs_status st = forward_chunk(m, x + input_floats(i), k, dims, out + (size_t)i * dims);
        if (st != CS_OK) return chunk_failed(st, i, k);
    }
    return CS_OK;
}

/* ---- the two-batch pipeline (cs_model_submit / cs_model_collect) --------------------------- */

int cs_model_preprocesses(const cs_model *m) { return m->device_preprocess; }
int cs_model_async(const cs_model *m) { return m->async; }

/* Bytes of one packed item, 0 if its geometry is bad. */
static size_t item_bytes(const cs_rgb_item *it) {
    size_t b;
    if (it->width < 1 || it->height < 1 || !cs_mul_size((size_t)it->width * 3, (size_t)it->height, &b)) return 0;
    return b;
}

/* Upload `bytes` from host src into the slot's device buffer: at once (sync), or on the copy
 * queue once the slot's previous batch is done, with the compute queue waiting for it. */
static cs_status pipe_stage(cs_model *m, int slot, const void *src, size_t bytes, int async) {
    cs_backend *be = m->be;
    pipe_slot *p = &m->pipe[slot];
    if (bytes > p->din_cap || !p->din) {
        size_t cap = bytes + bytes / 4; /* room for somewhat larger images next time */
        be->iface->buffer_free(be, p->din); /* waits for what is in flight */
        p->din = NULL;
        p->din_cap = 0;
        CS_TRY(be->iface->buffer_alloc(be, cap ? cap : 1, &p->din));
        p->din_cap = cap;
    }
    if (!async) return be->iface->upload(be, p->din, src, bytes);
    if (p->fenced) CS_TRY(be->iface->queue_wait(be, CS_QUEUE_COPY, FENCE_DONE(slot)));
    CS_TRY(be->iface->upload_async(be, p->din, src, bytes));
    CS_TRY(be->iface->fence_record(be, FENCE_IN(slot), CS_QUEUE_COPY));
    return be->iface->queue_wait(be, CS_QUEUE_COMPUTE, FENCE_IN(slot));
}

/* One chunk of k (<= chunk_max) images through slot: from preprocessed floats x, or from packed
 * RGB items (offsets relative to rgb) preprocessed on the device. async: leave it in flight. */
static cs_status submit_chunk(cs_model *m, int slot, const float *x, const uint8_t *rgb,
                              const cs_rgb_item *items, int k, int dims, float *out, int async) {
    cs_backend *be = m->be;
    pipe_slot *p = &m->pipe[slot];
    const int fence = async ? FENCE_DONE(slot) : -1;
    CS_TRY(ensure_arena(m, k));
    if (x && !async) {
        CS_TRY(forward_chunk(m, x, k, dims, out)); /* straight into the arena, as cs_model_forward */
    } else if (x) {
        CS_TRY(pipe_stage(m, slot, x, input_floats(k) * sizeof(float), async));
        CS_TRY(run_chunk(m, p->din, k, dims, out, fence));
    } else {
        const size_t lo = items[0].offset, hi = items[k - 1].offset + item_bytes(&items[k - 1]);
        CS_TRY(pipe_stage(m, slot, rgb + lo, hi - lo, async));
        for (int j = 0; j < k; j++)
            CS_TRY(be->iface->preprocess_rgb(be, (const uint8_t *)p->din + (items[j].offset - lo), items[j].width,
                                             items[j].height, m->arena + input_floats(j)));
        CS_TRY(run_chunk(m, m->arena, k, dims, out, fence));
    }
    if (async) p->fenced = 1;
    return CS_OK;
}

/* may_async 0: every chunk runs to completion with synchronous copies (cs_model_features_rgb,
 * whose host memory is the caller's pageable memory: backend.h allows it only there). */
static cs_status submit(cs_model *m, int slot, const float *x, const uint8_t *rgb, size_t rgb_bytes,
                        const cs_rgb_item *items, int n, int dims, float *out, int may_async) {
    if (slot < 0 || slot > 1) return CS_FAIL(CS_E_USAGE, "pipeline slot %d (expected 0 or 1)", slot);
    if (m->pipe[slot].pending) return CS_FAIL(CS_E_USAGE, "pipeline slot %d is still in flight", slot);
    if (m->vit) { /* the CPU: run to completion now (collect only reports) */
        if (!x) return CS_FAIL(CS_E_UNSUPPORTED, "model %s takes preprocessed input", cs_model_kind_name(m->kind));
        CS_TRY(cs_model_forward(m, x, n, dims, out));
        m->pipe[slot].pending = 1;
        m->pipe[slot].in_flight = 0;
        return CS_OK;
    }
    if (!cs_model_dims_valid(dims))
        return CS_FAIL(CS_E_USAGE, "dims %d not supported (expected 64, 192, 768 or 2048)", dims);
    if (n < 1) return CS_FAIL(CS_E_USAGE, "a batch needs at least one image (got %d)", n);
    if (!x) {
        if (!m->be->iface->preprocess_rgb)
            return CS_FAIL(CS_E_UNSUPPORTED, "backend %s does not preprocess", m->be->iface->name);
        size_t prev_end = 0; /* items must lie in order, inside the buffer */
        for (int j = 0; j < n; j++) {
            size_t b = item_bytes(&items[j]);
            if (!b || items[j].offset < prev_end || items[j].offset > rgb_bytes || b > rgb_bytes - items[j].offset)
                return CS_FAIL(CS_E_USAGE, "packed image %d (%dx%d at offset %zu) outside its %zu-byte buffer or "
                                           "out of order", j, items[j].width, items[j].height, items[j].offset, rgb_bytes);
            prev_end = items[j].offset + b;
        }
    }
    /* A batch that fits one chunk is left in flight on an asynchronous backend; anything else
     * runs to completion now, chunk by chunk (collect then only reports it). */
    const int async = may_async && m->async && n <= m->chunk_max;
    for (int i = 0; i < n; i += m->chunk_max) {
        int k = n - i < m->chunk_max ? n - i : m->chunk_max;
        cs_status st = submit_chunk(m, slot, x ? x + input_floats(i) : NULL, rgb, items ? items + i : NULL, k, dims,
                                    out + (size_t)i * dims, async);
        if (st != CS_OK) return chunk_failed(st, i, k);
    }
    m->pipe[slot].pending = 1;
    m->pipe[slot].in_flight = async;
    return CS_OK;
}

cs_status cs_model_submit(cs_model *m, int slot, const float *x, int n, int dims, float *out) {
    if (!x) return CS_FAIL(CS_E_USAGE, "cs_model_submit: no input");
    return submit(m, slot, x, NULL, 0, NULL, n, dims, out, 1);
}

cs_status cs_model_submit_rgb(cs_model *m, int slot, const uint8_t *rgb, size_t rgb_bytes,
                              const cs_rgb_item *items, int n, int dims, float *out) {
    if (!rgb || !items) return CS_FAIL(CS_E_USAGE, "cs_model_submit_rgb: no input");
    return submit(m, slot, NULL, rgb, rgb_bytes, items, n, dims, out, 1);
}

cs_status cs_model_collect(cs_model *m, int slot) {
    if (slot < 0 || slot > 1 || !m->pipe[slot].pending)
        return CS_FAIL(CS_E_USAGE, "pipeline slot %d has no batch in flight", slot);
    pipe_slot *p = &m->pipe[slot];
    p->pending = 0;
    if (!p->in_flight) return CS_OK;
    p->in_flight = 0;
    return m->be->iface->fence_wait(m->be, FENCE_DONE(slot));
}

/* Backends that preprocess: each chunk's images are packed into one host buffer and go through
 * pipeline slot 0 (one upload, resized on the device straight into the chunk's input), with
 * synchronous copies only: the packed buffer (malloc) and `out` (the caller's) are pageable, which
 * the asynchronous members of backend.h do not accept. This keeps the call, which tests use as
 * the reference, off the copy queue, fences and asynchronous download it is compared with. */
static cs_status features_rgb_dev(cs_model *m, const cs_image *imgs, int n, int dims, float *out) {
    if (!m->host_items) {
        m->host_items = cs_malloc((size_t)m->chunk_max * sizeof *m->host_items, "packed image list");
        if (!m->host_items) return CS_E_NOMEM;
    }
    for (int i = 0; i < n; i += m->chunk_max) {
        int k = n - i < m->chunk_max ? n - i : m->chunk_max;
        size_t total = 0;
        for (int j = 0; j < k; j++) {
            const cs_image *im = &imgs[i + j];
            size_t bytes;
            if (!im->rgb || im->width < 1 || im->height < 1 ||
                !cs_mul_size((size_t)im->width * 3, (size_t)im->height, &bytes) || bytes > SIZE_MAX - total)
                return CS_FAIL(CS_E_USAGE, "preprocess: bad image %d (%dx%d)", i + j, im->width, im->height);
            m->host_items[j] = (cs_rgb_item){.offset = total, .width = im->width, .height = im->height};
            total += bytes;
        }
        if (total > m->host_rgb_cap) {
            free(m->host_rgb);
            m->host_rgb_cap = 0;
            m->host_rgb = cs_malloc(total, "packed images");
            if (!m->host_rgb) return CS_E_NOMEM;
            m->host_rgb_cap = total;
        }
        for (int j = 0; j < k; j++)
            memcpy(m->host_rgb + m->host_items[j].offset, imgs[i + j].rgb, item_bytes(&m->host_items[j]));
        cs_status st = submit(m, 0, NULL, m->host_rgb, total, m->host_items, k, dims, out + (size_t)i * dims, 0);
        if (st == CS_OK) st = cs_model_collect(m, 0);
        if (st != CS_OK) return CS_FAIL(st, "%s (from image %d of this call)", cs_last_error(), i);
    }
    return CS_OK;
}

cs_status cs_model_features_rgb(cs_model *m, const cs_image *imgs, int n, int dims, float *out) {
    if (m->vit) {
        CS_TRY(vit_check_dims(m, dims));
        if (n < 0) return CS_FAIL(CS_E_USAGE, "negative image count %d", n);
        const int s = cs_model_kind_input_size(m->kind);
        const size_t in = (size_t)3 * s * s;
        float *x = cs_malloc((n ? (size_t)n : 1) * in * sizeof(float), "preprocessed images");
        if (!x) return CS_E_NOMEM;
        cs_status st = CS_OK;
        for (int j = 0; j < n && st == CS_OK; j++)
            st = cs_model_kind_preprocess(m->kind, imgs[j].rgb, imgs[j].width, imgs[j].height, x + (size_t)j * in);
        if (st == CS_OK) st = cs_vit_forward(m->vit, x, n, out);
        free(x);
        return st;
    }
    if (!cs_model_dims_valid(dims))
        return CS_FAIL(CS_E_USAGE, "dims %d not supported (expected 64, 192, 768 or 2048)", dims);
    if (n < 0) return CS_FAIL(CS_E_USAGE, "negative image count %d", n);
    if (m->be->iface->preprocess_rgb) return features_rgb_dev(m, imgs, n, dims, out);
    if (!m->host_x) {
        m->host_x = cs_malloc(input_floats(m->chunk_max) * sizeof(float), "preprocessed batch");
        if (!m->host_x) return CS_E_NOMEM;
    }
    for (int i = 0; i < n; i += m->chunk_max) {
        int k = n - i < m->chunk_max ? n - i : m->chunk_max;
        for (int j = 0; j < k; j++)
            CS_TRY(cs_preprocess_rgb(imgs[i + j].rgb, imgs[i + j].width, imgs[i + j].height,
                                      m->host_x + input_floats(j)));
        CS_TRY(forward_chunk(m, m->host_x, k, dims, out + (size_t)i * dims));
    }
    return CS_OK;
}
