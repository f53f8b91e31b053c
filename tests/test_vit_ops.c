/* The Vision Transformer ops (net/vit_ops.h) and preprocessing (copyscope/model.h) against
 * PyTorch, PIL and torchvision goldens (tests/vit_ops_ref.py), each fast op also against its
 * readable reference.
 *
 *   test_vit_ops GOLDEN
 *
 * Tolerances (why each has its value):
 *  - PIL resize: byte for byte (integer arithmetic, exactly PIL's);
 *  - dgm-eval transform, CLIP preprocessing: 1e-6 absolute (the same float32 division and subtraction as torch;
 *    values up to 2.7, so this allows one ulp of rounding, not a different formula);
 *  - layer norm, activations: 1e-5 of the largest magnitude (a few float32 roundings of O(1)
 *    values; torch's vectorised erf/exp differ from libm by an ulp or two);
 *  - linear, attention: 2e-5 of the largest magnitude (float32 dot products of 64-1152 terms
 *    summed in another order than torch's: relative error ~ sqrt(K) 2^-24 ~ 2e-6, 10x margin);
 *  - interpolation: 3e-5 absolute on N(0, 1) values. In double, torch's bicubic weights equal
 *    ours to 1e-15 (checked with unit impulses), but torch computes the source coordinate
 *    (float)(1/s) (i + 0.5) - 0.5 in float32, where an ulp near 36 is 3.8e-6: its weights, and
 *    ours, carry errors of that order (measured 6e-6 .. 9.4e-6 on these values, float and double
 *    paths alike); a wrong scale or offset moves values by > 0.1. */
#include "copyscope/metrics.h"
#include "copyscope/model.h"
#include "net/vit_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec {
    char name[64];
    int dtype, ndim;
    int64_t shape[4];
    size_t numel;
    void *data;
} rec;

static rec g_recs[256];
static int g_n, g_fail;

static int load(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[8];
    if (!f || fread(magic, 1, 8, f) != 8 || memcmp(magic, "CSVITOP1", 8)) {
        printf("%s: not a vit ops golden file\n", path);
        if (f) fclose(f);
        return 0;
    }
    uint32_t len;
    while (g_n < 256 && fread(&len, 4, 1, f) == 1) {
        rec *r = &g_recs[g_n];
        uint32_t dt, nd;
        if (len >= sizeof r->name || fread(r->name, 1, len, f) != len || fread(&dt, 4, 1, f) != 1 ||
            fread(&nd, 4, 1, f) != 1 || nd > 4 || fread(r->shape, 8, nd, f) != nd)
            break;
        r->name[len] = 0;
        r->dtype = (int)dt;
        r->ndim = (int)nd;
        r->numel = 1;
        for (uint32_t i = 0; i < nd; i++) r->numel *= (size_t)r->shape[i];
        size_t es = dt == 0 ? 4 : 1;
        r->data = malloc(r->numel * es + 1);
        if (!r->data || fread(r->data, es, r->numel, f) != r->numel) break;
        g_n++;
    }
    fclose(f);
    return g_n > 0;
}

static rec *get(const char *name) {
    for (int i = 0; i < g_n; i++)
        if (!strcmp(g_recs[i].name, name)) return &g_recs[i];
    printf("golden record %s missing\n", name);
    exit(1);
}
static float *F32(const char *name) { return get(name)->data; }

/* max |a - b| against tol * scale (scale: max |b|, or 1 when rel is 0); NaN fails. */
static void check(const char *what, const float *a, const float *b, size_t n, double tol, int rel) {
    double mx = 0, sc = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d != d || a[i] != a[i]) d = INFINITY;
        if (d > mx) mx = d;
        if (fabs(b[i]) > sc) sc = fabs(b[i]);
    }
    double bound = tol * (rel ? sc : 1.0);
    int ok = mx <= bound;
    printf("%-34s max|diff| %.3g (bound %.3g)%s\n", what, mx, bound, ok ? "" : "  FAIL");
    if (!ok) g_fail = 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_vit_ops GOLDEN\n");
        return 2;
    }
    if (!load(argv[1])) return 1;

    /* layer norm */
    {
        float *y = malloc(257 * 384 * 4), *yr = malloc(257 * 384 * 4);
        cs_vit_layernorm(257, 384, F32("ln.x"), F32("ln.w"), F32("ln.b"), 1e-6f, y);
        cs_ref_vit_layernorm(257, 384, F32("ln.x"), F32("ln.w"), F32("ln.b"), 1e-6f, yr);
        check("layernorm fast vs torch", y, F32("ln.y"), 257 * 384, 1e-5, 1);
        check("layernorm ref vs torch", yr, F32("ln.y"), 257 * 384, 1e-5, 1);
        free(y), free(yr);
    }
    /* linear, written with a row stride wider than the output: the gaps must stay untouched */
    {
        const int t = 257, din = 384, dout = 1152, ldy = dout + 3;
        float *y = malloc((size_t)t * ldy * 4), *yr = malloc((size_t)t * dout * 4), *yc = malloc((size_t)t * dout * 4);
        for (size_t i = 0; i < (size_t)t * ldy; i++) y[i] = 12345.0f;
        cs_vit_linear(t, din, dout, F32("lin.x"), din, F32("lin.w"), F32("lin.b"), y, ldy);
        cs_ref_vit_linear(t, din, dout, F32("lin.x"), din, F32("lin.w"), F32("lin.b"), yr, dout);
        int gaps_ok = 1;
        for (int i = 0; i < t; i++) {
            memcpy(yc + (size_t)i * dout, y + (size_t)i * ldy, (size_t)dout * 4);
            for (int j = dout; j < ldy; j++) gaps_ok &= y[(size_t)i * ldy + j] == 12345.0f;
        }
        check("linear fast vs torch", yc, F32("lin.y"), (size_t)t * dout, 2e-5, 1);
        check("linear ref vs torch", yr, F32("lin.y"), (size_t)t * dout, 2e-5, 1);
        if (!gaps_ok) printf("linear wrote outside its rows  FAIL\n"), g_fail = 1;
        free(y), free(yr), free(yc);
    }
    /* activations */
    {
        rec *rx = get("act.x");
        size_t n = rx->numel;
        float *a = malloc(n * 4), *b = malloc(n * 4);
        memcpy(a, rx->data, n * 4), memcpy(b, rx->data, n * 4);
        cs_vit_gelu(n, a), cs_ref_vit_gelu(n, b);
        check("gelu fast vs torch", a, F32("gelu.y"), n, 1e-5, 1);
        check("gelu ref vs torch", b, F32("gelu.y"), n, 1e-5, 1);
        memcpy(a, rx->data, n * 4), memcpy(b, rx->data, n * 4);
        cs_vit_quick_gelu(n, a), cs_ref_vit_quick_gelu(n, b);
        check("quick_gelu fast vs torch", a, F32("qgelu.y"), n, 1e-5, 1);
        check("quick_gelu ref vs torch", b, F32("qgelu.y"), n, 1e-5, 1);
        free(a), free(b);
        float *y = malloc(50 * 96 * 4), *yr = malloc(50 * 96 * 4);
        cs_vit_swiglu(50, 96, F32("swiglu.x"), y), cs_ref_vit_swiglu(50, 96, F32("swiglu.x"), yr);
        check("swiglu fast vs torch", y, F32("swiglu.y"), 50 * 96, 1e-5, 1);
        check("swiglu ref vs torch", yr, F32("swiglu.y"), 50 * 96, 1e-5, 1);
        free(y), free(yr);
    }
    /* attention */
    {
        const int t = 257, heads = 6, hd = 64;
        float *y = malloc((size_t)t * 384 * 4), *yr = malloc((size_t)t * 384 * 4);
        float *scratch = malloc(cs_vit_attention_scratch(t) * 4);
        cs_vit_attention(t, heads, hd, 0.125f, F32("att.qkv"), y, scratch);
        cs_ref_vit_attention(t, heads, hd, 0.125f, F32("att.qkv"), yr);
        check("attention fast vs torch", y, F32("att.y"), (size_t)t * 384, 2e-5, 1);
        check("attention ref vs torch", yr, F32("att.y"), (size_t)t * 384, 2e-5, 1);
        free(y), free(yr), free(scratch);
    }
    /* positional-embedding interpolation */
    for (int grid = 16; grid <= 24; grid += 8) {
        float *y = malloc((size_t)grid * grid * 64 * 4), *yr = malloc((size_t)grid * grid * 64 * 4);
        double s = (grid + 0.1) / 37;
        char name[32], what[64];
        cs_vit_interp_bicubic(37, 64, F32("interp.src"), grid, grid, s, s, y);
        cs_ref_vit_interp_bicubic(37, 64, F32("interp.src"), grid, grid, s, s, yr);
        snprintf(name, sizeof name, "interp.y%d", grid);
        snprintf(what, sizeof what, "interp 37->%d fast vs torch", grid);
        check(what, y, F32(name), (size_t)grid * grid * 64, 3e-5, 0);
        snprintf(what, sizeof what, "interp 37->%d ref vs torch", grid);
        check(what, yr, F32(name), (size_t)grid * grid * 64, 3e-5, 0);
        free(y), free(yr);
    }
    /* PIL bicubic resize (bytes) and dgm-eval's transform */
    for (int i = 0;; i++) {
        char nin[32], nout[32], ndgm[32];
        snprintf(nin, sizeof nin, "pil%d.in", i);
        snprintf(nout, sizeof nout, "pil%d.out", i);
        snprintf(ndgm, sizeof ndgm, "dgm%d.y", i);
        int found = 0;
        for (int k = 0; k < g_n; k++) found |= !strcmp(g_recs[k].name, nin);
        if (!found) break;
        rec *ri = get(nin), *ro = get(nout);
        const int h = (int)ri->shape[0], w = (int)ri->shape[1], oh = (int)ro->shape[0], ow = (int)ro->shape[1];
        /* the resize the preprocessing uses (cs_image_resize, copyscope/metrics.h) */
        const cs_image in = {.width = w, .height = h, .rgb = ri->data};
        cs_image rs = {0};
        cs_status st = cs_image_resize(&in, ow, oh, CS_RESAMPLE_BICUBIC, &rs);
        const uint8_t *out = rs.rgb;
        size_t bad = 0;
        for (size_t k = 0; k < ro->numel && st == CS_OK; k++) bad += out[k] != ((uint8_t *)ro->data)[k];
        printf("PIL bicubic %dx%d -> %dx%d: %zu of %zu bytes differ%s\n", w, h, ow, oh, bad, ro->numel,
               st == CS_OK && !bad ? "" : "  FAIL");
        if (st != CS_OK || bad) g_fail = 1;
        float *x = malloc((size_t)3 * 224 * 224 * 4);
        st = cs_preprocess_rgb_dgm(ri->data, w, h, x);
        char what[64];
        snprintf(what, sizeof what, "dgm-eval transform %dx%d", w, h);
        if (st != CS_OK) printf("%s failed  FAIL\n", what), g_fail = 1;
        else check(what, x, F32(ndgm), (size_t)3 * 224 * 224, 1e-6, 0);
        free(x);
        /* CLIPImageProcessor: (x - mean) / std of uint8 * (1/255) (float64, stored as float32) */
        x = malloc((size_t)3 * 336 * 336 * 4);
        char nclip[32];
        snprintf(nclip, sizeof nclip, "clip%d.y", i);
        st = cs_preprocess_rgb_clip(ri->data, w, h, x);
        snprintf(what, sizeof what, "CLIP preprocessing %dx%d", w, h);
        if (st != CS_OK) printf("%s failed  FAIL\n", what), g_fail = 1;
        else check(what, x, F32(nclip), (size_t)3 * 336 * 336, 1e-6, 0);
        cs_image_free(&rs), free(x);
    }
    for (int i = 0; i < g_n; i++) free(g_recs[i].data);
    printf(g_fail ? "FAILED\n" : "all ViT ops match\n");
    return g_fail;
}
