/* Vision Transformer forward pass on the CPU (see net/vit.h).
 *
 * DINOv2 (dinov2/models/vision_transformer.py, hub backbones: img_size 518, patch 14,
 * init_values 1 (LayerScale), block_chunks 0, no registers, qkv bias, LayerNorm eps 1e-6,
 * interpolate_offset 0.1, interpolate_antialias False), per image:
 *   x = [cls | patches (P, 3*14*14) W_pe^T + b_pe] + pos      (T = 1 + P tokens, D)
 *   each block: x += ls1 * proj(attn(norm1(x)));  x += ls2 * mlp(norm2(x))
 *   mlp = fc2(gelu(fc1(.)))  or, vitg14, w3(silu(a) * b) with [a | b] = w12(.)
 *   feature = norm(x)[0]                                      (x_norm_clstoken)
 * CLIP vision tower (transformers' CLIPVisionModel + visual_projection):
 *   x = pre_layrnorm([class_embedding | patches W_pe^T] + position_embedding)
 *   each layer: x += out_proj(attn(layer_norm1(x)));  x += fc2(quick_gelu(fc1(layer_norm2(x))))
 *   feature = normalize(visual_projection(post_layernorm(x[0])))
 * q, k, v of CLIP (three Linear layers) are packed into one (3D, D) matrix at creation. */
#include "net/vit.h"

#include "core/blas.h"
#include "core/common.h"
#include "net/vit_gpu.h"
#include "net/vit_ops.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define VIT_MAX_THREADS 256
#define VIT_MAX_DEPTH 64

static const cs_vit_arch g_arch[] = {
    {CS_MODEL_DINOV2_VITS14, "dinov2-vits14", 384, 12, 6, 1536, 14, 224, 0, 0, 384, 1e-6f},
    {CS_MODEL_DINOV2_VITB14, "dinov2-vitb14", 768, 12, 12, 3072, 14, 224, 0, 0, 768, 1e-6f},
    {CS_MODEL_DINOV2_VITL14, "dinov2-vitl14", 1024, 24, 16, 4096, 14, 224, 0, 0, 1024, 1e-6f},
    /* SwiGLUFFNFused: hidden = (int(4 * 1536 * 2 / 3) + 7) // 8 * 8 = 4096 */
    {CS_MODEL_DINOV2_VITG14, "dinov2-vitg14", 1536, 40, 24, 4096, 14, 224, 1, 0, 1536, 1e-6f},
    {CS_MODEL_CLIP_VITL14_336, "clip-vitl14-336", 1024, 24, 16, 4096, 14, 336, 0, 1, 768, 1e-5f},
};

const cs_vit_arch *cs_vit_arch_get(cs_model_kind kind) {
    for (size_t i = 0; i < sizeof g_arch / sizeof *g_arch; i++)
        if (g_arch[i].kind == kind) return &g_arch[i];
    return NULL;
}

typedef struct vit_block {
    const float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ls1;
    const float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b, *ls2;
} vit_block;

typedef struct vit_ws {
    float *x, *h, *qkv, *att, *y, *f, *g, *cols, *scratch; /* see vit_ws_floats */
} vit_ws;

struct cs_vit {
    const cs_vit_arch *a;
    int depth, grid, tokens; /* grid: patches per side of the input; tokens = 1 + grid^2 */
    int threads;
    float *params;           /* owned copy of every parameter */
    size_t nparams, used;
    const float *patch_w, *patch_b; /* (D, 3*p*p), (D) (CLIP: no bias, NULL) */
    const float *cls, *pos;         /* (D), (tokens, D): the interpolated positional embedding */
    const float *pre_w, *pre_b;     /* CLIP pre_layrnorm */
    const float *norm_w, *norm_b;   /* dinov2 norm / CLIP post_layernorm */
    const float *vproj;             /* CLIP visual_projection (768, D) */
    vit_block blocks[VIT_MAX_DEPTH];
    vit_ws ws[VIT_MAX_THREADS];
    float *ws_mem[VIT_MAX_THREADS];
    cs_vit_gpu *gpu;                /* non-NULL: the forward pass runs on this GPU (CUDA module) */
};

const cs_vit_arch *cs_vit_get_arch(const cs_vit *v) { return v->a; }
int cs_vit_depth(const cs_vit *v) { return v->depth; }

/* ---- parameters ---------------------------------------------------------------------------- */

typedef struct vit_load {
    cs_vit *v;
    const cs_weights *w;
    const char *path;
    size_t ntaken; /* tensors read */
} vit_load;

/* Tensor `name` with the given shape (ndim values), copied into the model; NULL on failure
 * (message recorded). */
static const float *take(vit_load *L, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                         cs_status *st) {
    if (*st != CS_OK) return NULL;
    cs_tensor_view t;
    if (cs_weights_tensor(L->w, name, &t) != CS_OK) {
        *st = CS_FAIL(CS_E_MISMATCH, "%s: missing tensor %s: not the %s weights", L->path, name, L->v->a->name);
        return NULL;
    }
    const int64_t want[4] = {d0, d1, d2, d3};
    int ok = t.ndim == ndim && !t.is_int64 && t.data;
    for (int i = 0; ok && i < ndim; i++) ok = t.shape[i] == want[i];
    if (!ok) {
        char a[96] = "", b[96] = "";
        for (int i = 0; i < t.ndim && i < 4; i++)
            snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", i ? ", " : "", (long long)t.shape[i]);
        for (int i = 0; i < ndim; i++)
            snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", i ? ", " : "", (long long)want[i]);
        *st = CS_FAIL(CS_E_MISMATCH, "%s: shape of %s is (%s), expected (%s) for %s", L->path, name, a, b,
                      L->v->a->name);
        return NULL;
    }
    if (t.numel > L->v->nparams - L->v->used) {
        *st = CS_FAIL(CS_E_INTERNAL, "%s: parameter buffer too small", L->path);
        return NULL;
    }
    float *dst = L->v->params + L->v->used;
    memcpy(dst, t.data, t.numel * sizeof(float));
    L->v->used += t.numel;
    L->ntaken++;
    return dst;
}

/* Blocks present: the largest N + 1 with a "<prefix>N.<probe>" tensor, contiguous from 0. */
static int count_blocks(const cs_weights *w, const char *prefix, const char *probe) {
    int n = 0;
    for (; n <= VIT_MAX_DEPTH; n++) {
        char name[128];
        cs_tensor_view t;
        snprintf(name, sizeof name, "%s%d.%s", prefix, n, probe);
        if (cs_weights_tensor(w, name, &t) != CS_OK) break;
    }
    cs_error_clear();
    return n;
}

/* Every tensor of the file must be one the model read (dinov2: exactly the hub state dict;
 * CLIP: the vision tower and projection; the text tower, logit scale and position_ids buffer
 * are ignored): take() checked each name and shape, so equal counts mean no stray tensor. */
static cs_status check_unexpected(vit_load *L) {
    const cs_vit_arch *a = L->v->a;
    size_t relevant = 0;
    for (size_t i = 0; i < cs_weights_tensor_count(L->w); i++) {
        cs_tensor_view t;
        CS_TRY(cs_weights_tensor_at(L->w, i, &t));
        if (!a->clip && !strcmp(t.name, "register_tokens"))
            return CS_FAIL(CS_E_UNSUPPORTED, "%s: DINOv2 with registers (register_tokens) is not supported", L->path);
        int mine = !a->clip || ((!strncmp(t.name, "vision_model.", 13) || !strcmp(t.name, "visual_projection.weight")) &&
                                strcmp(t.name, "vision_model.embeddings.position_ids"));
        if (mine) relevant++;
    }
    if (relevant != L->ntaken)
        return CS_FAIL(CS_E_MISMATCH, "%s: %zu tensors where %s has %zu (unexpected tensors, or a deeper model)",
                       L->path, relevant, a->name, L->ntaken);
    return CS_OK;
}

static cs_status load_dinov2(vit_load *L, int *m_out) {
    cs_vit *v = L->v;
    const cs_vit_arch *a = v->a;
    const int64_t D = a->dim;
    cs_status st = CS_OK;
    cs_tensor_view pe;
    if (cs_weights_tensor(L->w, "pos_embed", &pe) != CS_OK || pe.ndim != 3 || pe.shape[0] != 1 ||
        pe.shape[2] != D || pe.shape[1] < 2)
        return CS_FAIL(CS_E_MISMATCH, "%s: pos_embed missing or not (1, 1 + M*M, %lld): not the %s weights", L->path,
                       (long long)D, a->name);
    const int64_t N = pe.shape[1] - 1;
    int M = (int)sqrt((double)N);
    while ((int64_t)M * M > N) M--;
    while ((int64_t)(M + 1) * (M + 1) <= N) M++;
    if ((int64_t)M * M != N || M > 64)
        return CS_FAIL(CS_E_MISMATCH, "%s: pos_embed has %lld patch positions, not a square grid of at most 64 x 64",
                       L->path, (long long)N);
    *m_out = M;
    v->cls = take(L, "cls_token", 3, 1, 1, D, 0, &st);
    const float *pos = take(L, "pos_embed", 3, 1, N + 1, D, 0, &st);
    (void)take(L, "mask_token", 2, 1, D, 0, 0, &st); /* unused at inference (no masks) */
    v->patch_w = take(L, "patch_embed.proj.weight", 4, D, 3, a->patch, a->patch, &st);
    v->patch_b = take(L, "patch_embed.proj.bias", 1, D, 0, 0, 0, &st);
    for (int i = 0; i < v->depth && st == CS_OK; i++) {
        vit_block *b = &v->blocks[i];
        char n[128];
#define T1(field, suffix, d0)                                                                      \
    snprintf(n, sizeof n, "blocks.%d.%s", i, suffix);                                              \
    b->field = take(L, n, 1, d0, 0, 0, 0, &st)
#define T2(field, suffix, d0, d1)                                                                  \
    snprintf(n, sizeof n, "blocks.%d.%s", i, suffix);                                              \
    b->field = take(L, n, 2, d0, d1, 0, 0, &st)
        T1(ln1_w, "norm1.weight", D);
        T1(ln1_b, "norm1.bias", D);
        T2(qkv_w, "attn.qkv.weight", 3 * D, D);
        T1(qkv_b, "attn.qkv.bias", 3 * D);
        T2(proj_w, "attn.proj.weight", D, D);
        T1(proj_b, "attn.proj.bias", D);
        T1(ls1, "ls1.gamma", D);
        T1(ln2_w, "norm2.weight", D);
        T1(ln2_b, "norm2.bias", D);
        if (a->swiglu) {
            T2(fc1_w, "mlp.w12.weight", 2 * (int64_t)a->hidden, D);
            T1(fc1_b, "mlp.w12.bias", 2 * (int64_t)a->hidden);
            T2(fc2_w, "mlp.w3.weight", D, a->hidden);
            T1(fc2_b, "mlp.w3.bias", D);
        } else {
            T2(fc1_w, "mlp.fc1.weight", a->hidden, D);
            T1(fc1_b, "mlp.fc1.bias", a->hidden);
            T2(fc2_w, "mlp.fc2.weight", D, a->hidden);
            T1(fc2_b, "mlp.fc2.bias", D);
        }
        T1(ls2, "ls2.gamma", D);
#undef T1
#undef T2
    }
    v->norm_w = take(L, "norm.weight", 1, D, 0, 0, 0, &st);
    v->norm_b = take(L, "norm.bias", 1, D, 0, 0, 0, &st);
    if (st != CS_OK) return st;
    /* interpolate_pos_encoding: cls position kept, the M x M patch grid resized to the input's
     * grid with scale factor (grid + 0.1) / M (bicubic, no antialias); used as is when M equals
     * the grid (dinov2 returns pos_embed unchanged for a square input of the trained size). */
    float *p = v->params + v->used;
    v->used += (size_t)v->tokens * D;
    memcpy(p, pos, (size_t)D * sizeof(float));
    if (M == v->grid) {
        memcpy(p + D, pos + D, (size_t)N * D * sizeof(float));
    } else {
        const double s = ((double)v->grid + 0.1) / M;
        if ((int)floor(M * s) != v->grid)
            return CS_FAIL(CS_E_MISMATCH, "%s: pos_embed grid %d x %d does not interpolate to %d x %d", L->path, M, M,
                           v->grid, v->grid);
        cs_vit_interp_bicubic(M, (int)D, pos + D, v->grid, v->grid, s, s, p + D);
    }
    v->pos = p;
    return CS_OK;
}

static cs_status load_clip(vit_load *L) {
    cs_vit *v = L->v;
    const cs_vit_arch *a = v->a;
    const int64_t D = a->dim, T = v->tokens;
    cs_status st = CS_OK;
    v->cls = take(L, "vision_model.embeddings.class_embedding", 1, D, 0, 0, 0, &st);
    v->patch_w = take(L, "vision_model.embeddings.patch_embedding.weight", 4, D, 3, a->patch, a->patch, &st);
    v->patch_b = NULL;
    v->pos = take(L, "vision_model.embeddings.position_embedding.weight", 2, T, D, 0, 0, &st);
    v->pre_w = take(L, "vision_model.pre_layrnorm.weight", 1, D, 0, 0, 0, &st);
    v->pre_b = take(L, "vision_model.pre_layrnorm.bias", 1, D, 0, 0, 0, &st);
    for (int i = 0; i < v->depth && st == CS_OK; i++) {
        vit_block *b = &v->blocks[i];
        char n[160];
#define P "vision_model.encoder.layers.%d."
#define T1(field, suffix, d0)                                                                      \
    snprintf(n, sizeof n, P suffix, i);                                                            \
    b->field = take(L, n, 1, d0, 0, 0, 0, &st)
#define T2(field, suffix, d0, d1)                                                                  \
    snprintf(n, sizeof n, P suffix, i);                                                            \
    b->field = take(L, n, 2, d0, d1, 0, 0, &st)
        T1(ln1_w, "layer_norm1.weight", D);
        T1(ln1_b, "layer_norm1.bias", D);
        /* q, k, v packed: the three weights are consecutive (take copies in call order) */
        const float *q, *k, *vv, *qb, *kb, *vb;
        T2(qkv_w, "self_attn.q_proj.weight", D, D);
        q = b->qkv_w;
        T2(qkv_w, "self_attn.k_proj.weight", D, D);
        k = b->qkv_w;
        T2(qkv_w, "self_attn.v_proj.weight", D, D);
        vv = b->qkv_w;
        T1(qkv_b, "self_attn.q_proj.bias", D);
        qb = b->qkv_b;
        T1(qkv_b, "self_attn.k_proj.bias", D);
        kb = b->qkv_b;
        T1(qkv_b, "self_attn.v_proj.bias", D);
        vb = b->qkv_b;
        if (st != CS_OK) break;
        CS_ASSERT(k == q + D * D && vv == k + D * D && qb == vv + D * D && kb == qb + D && vb == kb + D);
        b->qkv_w = q;
        b->qkv_b = qb;
        T2(proj_w, "self_attn.out_proj.weight", D, D);
        T1(proj_b, "self_attn.out_proj.bias", D);
        T1(ln2_w, "layer_norm2.weight", D);
        T1(ln2_b, "layer_norm2.bias", D);
        T2(fc1_w, "mlp.fc1.weight", a->hidden, D);
        T1(fc1_b, "mlp.fc1.bias", a->hidden);
        T2(fc2_w, "mlp.fc2.weight", D, a->hidden);
        T1(fc2_b, "mlp.fc2.bias", D);
        b->ls1 = b->ls2 = NULL;
#undef T1
#undef T2
#undef P
    }
    v->norm_w = take(L, "vision_model.post_layernorm.weight", 1, D, 0, 0, 0, &st);
    v->norm_b = take(L, "vision_model.post_layernorm.bias", 1, D, 0, 0, 0, &st);
    v->vproj = take(L, "visual_projection.weight", 2, a->out_dim, D, 0, 0, &st);
    return st;
}

/* Floats of one image's workspace. */
static size_t vit_ws_floats(const cs_vit *v) {
    const size_t T = (size_t)v->tokens, D = (size_t)v->a->dim, H = (size_t)v->a->hidden;
    const size_t f = v->a->swiglu ? 2 * H : H;
    return T * D * 4 + T * 3 * D + T * f + T * H + (T - 1) * 3 * v->a->patch * v->a->patch +
           cs_vit_attention_scratch((int)T) + 16 * 10;
}

cs_status cs_vit_create(const cs_weights *w, cs_model_kind kind, int threads, int any_depth, cs_vit **out) {
    *out = NULL;
    const cs_vit_arch *a = cs_vit_arch_get(kind);
    if (!a) return CS_FAIL(CS_E_USAGE, "model %s is not a Vision Transformer", cs_model_kind_name(kind));
    if (!cs_weights_has_data(w)) return CS_FAIL(CS_E_USAGE, "%s: weights loaded without data", cs_weights_path(w));
    cs_vit *v = cs_calloc(1, sizeof *v, "vision transformer");
    if (!v) return CS_E_NOMEM;
    cs_status st = CS_OK;
    vit_load L = {.v = v, .w = w, .path = cs_weights_path(w)};
    v->a = a;
    v->grid = a->input / a->patch;
    v->tokens = 1 + v->grid * v->grid;
    v->threads = threads > 0 ? threads : omp_get_max_threads();
    if (v->threads > VIT_MAX_THREADS) v->threads = VIT_MAX_THREADS;
    v->depth = a->clip ? count_blocks(w, "vision_model.encoder.layers.", "layer_norm1.weight")
                       : count_blocks(w, "blocks.", "norm1.weight");
    if (v->depth < 1 || v->depth > VIT_MAX_DEPTH || (!any_depth && v->depth != a->depth)) {
        st = CS_FAIL(CS_E_MISMATCH, "%s: %d transformer blocks, expected %d for %s", L.path, v->depth, a->depth,
                     a->name);
        goto fail;
    }
    /* every tensor of the file (an upper bound of what is copied) plus the interpolated positions */
    v->nparams = (size_t)cs_weights_param_count(w) + (size_t)v->tokens * a->dim;
    v->params = cs_malloc(v->nparams * sizeof(float), "model parameters");
    if (!v->params) {
        st = CS_E_NOMEM;
        goto fail;
    }
    int M = 0;
    CS_TRY_GOTO(st, a->clip ? load_clip(&L) : load_dinov2(&L, &M), fail);
    CS_TRY_GOTO(st, check_unexpected(&L), fail);
    *out = v;
    return CS_OK;
fail:
    cs_vit_free(v);
    return st;
}

void cs_vit_free(cs_vit *v) {
    if (!v) return;
    cs_vit_gpu_free(v->gpu);
    for (int i = 0; i < VIT_MAX_THREADS; i++) free(v->ws_mem[i]);
    free(v->params);
    free(v);
}

static cs_status ws_get(cs_vit *v, int tid, vit_ws **out) {
    vit_ws *ws = &v->ws[tid];
    if (!v->ws_mem[tid]) {
        float *mem = cs_malloc(vit_ws_floats(v) * sizeof(float), "transformer workspace");
        if (!mem) return CS_E_NOMEM;
        v->ws_mem[tid] = mem;
        const size_t T = (size_t)v->tokens, D = (size_t)v->a->dim, H = (size_t)v->a->hidden;
        const size_t f = v->a->swiglu ? 2 * H : H;
        float *p = mem;
#define CARVE(field, n)                                                                            \
    ws->field = p;                                                                                 \
    p += ((n) + 15) & ~(size_t)15
        CARVE(x, T * D);
        CARVE(h, T * D);
        CARVE(qkv, T * 3 * D);
        CARVE(att, T * D);
        CARVE(y, T * D);
        CARVE(f, T * f);
        CARVE(g, T * H);
        CARVE(cols, (T - 1) * 3 * v->a->patch * v->a->patch);
        CARVE(scratch, cs_vit_attention_scratch((int)T));
#undef CARVE
        CS_ASSERT((size_t)(p - mem) <= vit_ws_floats(v));
    }
    *out = ws;
    return CS_OK;
}

/* One image: img (3, S, S) -> out (out_dim). */
static void forward_one(const cs_vit *v, vit_ws *ws, const float *img, float *out) {
    const cs_vit_arch *a = v->a;
    const int T = v->tokens, D = a->dim, P = T - 1, K = 3 * a->patch * a->patch, H = a->hidden;
    const int hd = D / a->heads;
    const float scale = (float)(1.0 / sqrt((double)hd));
    float *x = ws->x;
    cs_vit_patchify(img, a->input, a->patch, ws->cols);
    cs_vit_linear(P, K, D, ws->cols, K, v->patch_w, v->patch_b, x + D, D);
    memcpy(x, v->cls, (size_t)D * sizeof(float));
    cs_vit_residual(T, D, x, v->pos, NULL);
    if (a->clip) cs_vit_layernorm(T, D, x, v->pre_w, v->pre_b, a->eps, x);
    for (int i = 0; i < v->depth; i++) {
        const vit_block *b = &v->blocks[i];
        cs_vit_layernorm(T, D, x, b->ln1_w, b->ln1_b, a->eps, ws->h);
        cs_vit_linear(T, D, 3 * D, ws->h, D, b->qkv_w, b->qkv_b, ws->qkv, 3 * D);
        cs_vit_attention(T, a->heads, hd, scale, ws->qkv, ws->att, ws->scratch);
        cs_vit_linear(T, D, D, ws->att, D, b->proj_w, b->proj_b, ws->y, D);
        cs_vit_residual(T, D, x, ws->y, b->ls1);
        cs_vit_layernorm(T, D, x, b->ln2_w, b->ln2_b, a->eps, ws->h);
        if (a->swiglu) {
            cs_vit_linear(T, D, 2 * H, ws->h, D, b->fc1_w, b->fc1_b, ws->f, 2 * H);
            cs_vit_swiglu(T, H, ws->f, ws->g);
            cs_vit_linear(T, H, D, ws->g, H, b->fc2_w, b->fc2_b, ws->y, D);
        } else {
            cs_vit_linear(T, D, H, ws->h, D, b->fc1_w, b->fc1_b, ws->f, H);
            if (a->clip) cs_vit_quick_gelu((size_t)T * H, ws->f);
            else cs_vit_gelu((size_t)T * H, ws->f);
            cs_vit_linear(T, H, D, ws->f, H, b->fc2_w, b->fc2_b, ws->y, D);
        }
        cs_vit_residual(T, D, x, ws->y, b->ls2);
    }
    if (!a->clip) { /* the normed CLS token */
        cs_vit_layernorm(1, D, x, v->norm_w, v->norm_b, a->eps, out);
        return;
    }
    cs_vit_layernorm(1, D, x, v->norm_w, v->norm_b, a->eps, ws->h);
    cs_vit_linear(1, D, a->out_dim, ws->h, D, v->vproj, NULL, out, a->out_dim);
    double ss = 0;
    for (int j = 0; j < a->out_dim; j++) ss += (double)out[j] * out[j];
    const double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    for (int j = 0; j < a->out_dim; j++) out[j] = (float)(out[j] * inv);
}

static size_t vit_off(const cs_vit *v, const float *p) { return p ? (size_t)(p - v->params) : CS_VIT_NONE; }

cs_status cs_vit_to_gpu(cs_vit *v, int device) {
    const cs_vit_arch *a = v->a;
    cs_vit_gpu_desc d;
    memset(&d, 0, sizeof d);
    d.name = a->name;
    d.dim = a->dim, d.depth = v->depth, d.heads = a->heads, d.hidden = a->hidden;
    d.patch = a->patch, d.input = a->input, d.tokens = v->tokens;
    d.swiglu = a->swiglu, d.clip = a->clip, d.out_dim = a->out_dim, d.eps = a->eps;
    d.params = v->params, d.nparams = v->used;
    d.patch_w = vit_off(v, v->patch_w), d.patch_b = vit_off(v, v->patch_b), d.cls = vit_off(v, v->cls);
    d.pos = vit_off(v, v->pos), d.pre_w = vit_off(v, v->pre_w), d.pre_b = vit_off(v, v->pre_b);
    d.norm_w = vit_off(v, v->norm_w), d.norm_b = vit_off(v, v->norm_b), d.vproj = vit_off(v, v->vproj);
    if (v->depth > CS_VIT_GPU_MAX_DEPTH) return CS_FAIL(CS_E_USAGE, "%s: too deep for the GPU path", a->name);
    for (int i = 0; i < v->depth; i++) {
        const vit_block *b = &v->blocks[i];
        cs_vit_gpu_block *g = &d.blocks[i];
        g->ln1_w = vit_off(v, b->ln1_w), g->ln1_b = vit_off(v, b->ln1_b), g->qkv_w = vit_off(v, b->qkv_w);
        g->qkv_b = vit_off(v, b->qkv_b), g->proj_w = vit_off(v, b->proj_w), g->proj_b = vit_off(v, b->proj_b);
        g->ls1 = vit_off(v, b->ls1), g->ln2_w = vit_off(v, b->ln2_w), g->ln2_b = vit_off(v, b->ln2_b);
        g->fc1_w = vit_off(v, b->fc1_w), g->fc1_b = vit_off(v, b->fc1_b), g->fc2_w = vit_off(v, b->fc2_w);
        g->fc2_b = vit_off(v, b->fc2_b), g->ls2 = vit_off(v, b->ls2);
    }
    cs_vit_gpu_free(v->gpu);
    v->gpu = NULL;
    return cs_vit_gpu_create(device, &d, &v->gpu);
}

const char *cs_vit_device_name(const cs_vit *v) { return v->gpu ? cs_vit_gpu_name(v->gpu) : NULL; }

cs_status cs_vit_forward(cs_vit *v, const float *x, int n, float *out) {
    if (n < 0) return CS_FAIL(CS_E_USAGE, "negative image count %d", n);
    if (n == 0) return CS_OK;
    if (v->gpu) return cs_vit_gpu_forward(v->gpu, x, n, out);
    cs_blas_serial();
    const size_t in = (size_t)3 * v->a->input * v->a->input;
    const int nt = n < v->threads ? n : v->threads;
    for (int t = 0; t < nt; t++) CS_TRY(ws_get(v, t, &(vit_ws *){NULL})); /* workspaces before the loop */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int i = 0; i < n; i++) {
        vit_ws *ws = &v->ws[omp_get_thread_num()];
        forward_one(v, ws, x + (size_t)i * in, out + (size_t)i * v->a->out_dim);
    }
    return CS_OK;
}
