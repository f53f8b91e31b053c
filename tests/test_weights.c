/* Tests of the FID Inception weights loader (host/io/weights.c, host/io/pickle.c).
 *
 *   test_weights fixture FILE        genuine truncated official file: header listing (printed for
 *                                    tests/weights_ref.py to compare), expected table, truncation
 *   test_weights ref DIR REF any|0   files written by PyTorch / by hand: every tensor's bytes hash to
 *                                    the SHA-256 torch.load's tensors give (exact equality), file SHA
 *   test_weights expect FILE STATUS TEXT [any|header]   one failure (or "ok") with its message
 *   test_weights mutate DIR          seeded truncations and byte flips: never crash, clean errors
 *   test_weights discover TMPDIR     cs_weights_find search order and its not-found message
 * Exit 0 pass, 1 fail, 77 skipped. */
#include "copyscope/weights.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int g_fail = 0;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            g_fail = 1;                                                                            \
        }                                                                                          \
    } while (0)

static unsigned parse_flags(const char *s) {
    if (!s || !strcmp(s, "0")) return 0;
    if (!strcmp(s, "any")) return CS_WEIGHTS_ANY_MODEL;
    if (!strcmp(s, "header")) return CS_WEIGHTS_HEADER_ONLY;
    return 0;
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- fixture: the genuine header of the official file ----------------------------------------- */

static int test_fixture(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("SKIP: fixture %s is absent\n", path);
        return 77;
    }
    cs_weights *w = NULL;
    cs_status st = cs_weights_load_ex(path, CS_WEIGHTS_HEADER_ONLY, &w);
    CHECK(st == CS_OK, "header-only load: %s", cs_last_error());
    if (st != CS_OK) return 1;
    CHECK(cs_weights_get_format(w) == CS_WEIGHTS_LEGACY, "format");
    CHECK(cs_weights_long_size(w) == 4, "long size %d", cs_weights_long_size(w));
    CHECK(!strcmp(cs_weights_describe_format(w), "torch legacy, long = 4 bytes"), "%s",
          cs_weights_describe_format(w));
    CHECK(cs_weights_tensor_count(w) == CS_WEIGHTS_TENSOR_COUNT, "%zu tensors",
          cs_weights_tensor_count(w));
    /* REFERENCE.md: the official file is 95,628,359 bytes; its header must imply exactly that */
    CHECK(cs_weights_implied_size(w) == 95628359ull, "implied size %" PRIu64, cs_weights_implied_size(w));
    CHECK(cs_weights_file_size(w) == 818371ull, "file size %" PRIu64, cs_weights_file_size(w));
    CHECK(!strcmp(cs_weights_sha256(w), "f6f585476eb37da06b4f6adebf74f1c9a1e17c4de1e7dfd2a764005dd3c59922"),
          "sha256 %s", cs_weights_sha256(w));
    CHECK(!cs_weights_is_official(w), "a truncated copy is not the official file");
    CHECK(cs_weights_param_count(w) == 23885392ull, "params %" PRIu64, cs_weights_param_count(w));
    CHECK(cs_weights_expected_param_count() == 23885392ull, "expected params %" PRIu64,
          cs_weights_expected_param_count());
    CHECK(!cs_weights_has_data(w), "header only");
    /* the file's key order is Python's sorted order = the expected table's order */
    for (size_t i = 0; i < cs_weights_tensor_count(w) && i < cs_weights_expected_count(); i++) {
        cs_tensor_view v;
        CHECK(cs_weights_tensor_at(w, i, &v) == CS_OK, "tensor_at %zu", i);
        int64_t shape[CS_WEIGHTS_MAX_NDIM];
        int nd = cs_weights_expected_shape(i, shape);
        CHECK(!strcmp(v.name, cs_weights_expected_name(i)), "tensor %zu is %s, expected %s", i, v.name,
              cs_weights_expected_name(i));
        CHECK(v.ndim == nd && !memcmp(v.shape, shape, sizeof(int64_t) * (size_t)nd), "shape of %s", v.name);
        CHECK(v.is_int64 == cs_weights_expected_is_int64(i), "dtype of %s", v.name);
        CHECK(v.data == NULL && v.idata == NULL, "no data in header-only mode");
        printf("%s\t%s\t(", v.name, v.is_int64 ? "int64" : "float32");
        for (int d = 0; d < v.ndim; d++) printf("%s%" PRId64, d ? ", " : "", v.shape[d]);
        printf(")\n");
    }
    printf("implied\t%" PRIu64 "\n", cs_weights_implied_size(w));
    /* README examples */
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } ex[] = {{"Conv2d_1a_3x3.conv.weight", 4, {32, 3, 3, 3}},
              {"Mixed_7c.branch3x3_2a.conv.weight", 4, {384, 384, 1, 3}},
              {"fc.weight", 2, {1008, 2048}},
              {"fc.bias", 1, {1008}},
              {"Mixed_5b.bn.num_batches_tracked", -1, {0}}};
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        cs_tensor_view v;
        st = cs_weights_tensor(w, ex[i].name, &v);
        if (ex[i].ndim < 0) {
            CHECK(st == CS_E_NOTFOUND, "%s must not exist", ex[i].name);
            continue;
        }
        CHECK(st == CS_OK && v.ndim == ex[i].ndim &&
                  !memcmp(v.shape, ex[i].shape, sizeof(int64_t) * (size_t)ex[i].ndim),
              "%s", ex[i].name);
    }
    cs_weights_free(w);

    /* the full load must refuse it, with the size the header implies */
    w = (cs_weights *)1;
    st = cs_weights_load(path, &w);
    CHECK(st == CS_E_TRUNCATED, "full load: status %s (%s)", cs_status_name(st), cs_last_error());
    CHECK(w == NULL, "no partial weights");
    CHECK(strstr(cs_last_error(), "truncated: 818371 of 95628359 bytes") != NULL, "message: %s",
          cs_last_error());
    fprintf(stderr, "full load: %s\n", cs_last_error());
    st = cs_weights_load_ex(path, CS_WEIGHTS_ANY_MODEL, &w);
    CHECK(st == CS_E_TRUNCATED && !w, "any-model load: %s", cs_last_error());

    /* cut inside the header: a clean "truncated" (main pickle ends at 68,684, key list at 81,511) */
    size_t len;
    unsigned char *buf = read_all(path, &len);
    CHECK(buf != NULL, "read");
    if (buf) {
        st = cs_weights_load_memory(buf, 81511, "head", CS_WEIGHTS_HEADER_ONLY, &w);
        CHECK(st == CS_OK, "first 81,511 bytes hold the whole header: %s", cs_last_error());
        cs_weights_free(w);
        st = cs_weights_load_memory(buf, 81511, "head", 0, &w);
        CHECK(st == CS_E_TRUNCATED && strstr(cs_last_error(), "truncated: 81511 of 95628359 bytes"),
              "%s", cs_last_error());
        for (size_t cut = 0; cut < 81511; cut += 101) {
            st = cs_weights_load_memory(buf, cut, "cut", CS_WEIGHTS_HEADER_ONLY, &w);
            CHECK(st == CS_E_TRUNCATED && !w, "cut at %zu: %s %s", cut, cs_status_name(st), cs_last_error());
        }
        free(buf);
    }
    return g_fail;
}

/* ---- ref: exact comparison with torch.load ---------------------------------------------------- */

static int test_ref(const char *dir, const char *refname, unsigned flags) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, refname);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "FAIL: cannot open %s\n", path);
        return 1;
    }
    enum { MAXT = 1024 };
    static char tname[MAXT][256], tdt[MAXT][16], tshape[MAXT][64], tsha[MAXT][65];
    static char fname[8][256], fsha[8][65];
    static unsigned long long fsize[8];
    int nt = 0, nf = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "file ", 5) && nf < 8) {
            if (sscanf(line + 5, "%255s %64s %llu", fname[nf], fsha[nf], &fsize[nf]) == 3) nf++;
        } else if (!strncmp(line, "tensor ", 7) && nt < MAXT) {
            if (sscanf(line + 7, "%255s %15s %63s %64s", tname[nt], tdt[nt], tshape[nt], tsha[nt]) == 4) nt++;
        }
    }
    fclose(f);
    CHECK(nf > 0 && nt > 0, "empty ref %s", path);
    for (int fi = 0; fi < nf; fi++) {
        snprintf(path, sizeof path, "%s/%s", dir, fname[fi]);
        cs_weights *w = NULL;
        double t0 = (double)clock() / CLOCKS_PER_SEC;
        cs_status st = cs_weights_load_ex(path, flags, &w);
        double t1 = (double)clock() / CLOCKS_PER_SEC;
        CHECK(st == CS_OK, "load %s: %s", path, cs_last_error());
        if (st != CS_OK) continue;
        printf("%s: %s, %zu tensors, %" PRIu64 " float32 values, %.3f s CPU\n", fname[fi],
               cs_weights_describe_format(w), cs_weights_tensor_count(w), cs_weights_param_count(w), t1 - t0);
        /* SHA-256 equals hashlib's, both from the loader and from the streaming file hash */
        CHECK(!strcmp(cs_weights_sha256(w), fsha[fi]), "%s sha %s, hashlib %s", fname[fi],
              cs_weights_sha256(w), fsha[fi]);
        char hex[65];
        CHECK(cs_sha256_file(path, hex) == CS_OK && !strcmp(hex, fsha[fi]), "streamed sha %s", hex);
        CHECK(cs_weights_file_size(w) == fsize[fi], "size");
        int is_zip = strstr(fname[fi], "zip") || strstr(fname[fi], "deflate");
        CHECK(cs_weights_get_format(w) == (is_zip ? CS_WEIGHTS_ZIP : CS_WEIGHTS_LEGACY), "%s format %s",
              fname[fi], cs_weights_describe_format(w));
        int want_long = strstr(fname[fi], "long8") ? 8 : is_zip ? 8 : 4;
        CHECK(cs_weights_long_size(w) == want_long, "%s long %d", fname[fi], cs_weights_long_size(w));
        CHECK(cs_weights_tensor_count(w) == (size_t)nt, "%zu tensors, ref %d", cs_weights_tensor_count(w), nt);
        if (!flags) CHECK(cs_weights_param_count(w) == 23885392ull, "params");
        int bad = 0;
        for (int k = 0; k < nt; k++) {
            cs_tensor_view v;
            if (cs_weights_tensor(w, tname[k], &v) != CS_OK) {
                CHECK(0, "%s: no tensor %s", fname[fi], tname[k]);
                continue;
            }
            char sh[64] = "";
            size_t o = 0;
            for (int d = 0; d < v.ndim; d++)
                o += (size_t)snprintf(sh + o, sizeof sh - o, "%s%" PRId64, d ? "x" : "", v.shape[d]);
            if (!v.ndim) strcpy(sh, "-");
            CHECK(!strcmp(sh, tshape[k]), "%s shape %s, ref %s", tname[k], sh, tshape[k]);
            CHECK(!strcmp(v.is_int64 ? "int64" : "float32", tdt[k]), "%s dtype", tname[k]);
            /* exact: the bytes of our contiguous copy hash like torch's .contiguous() */
            const void *data = v.is_int64 ? (const void *)v.idata : (const void *)v.data;
            cs_sha256_bytes(data, v.numel * (v.is_int64 ? 8 : 4), hex);
            if (strcmp(hex, tsha[k]) && bad++ < 5) CHECK(0, "%s: %s values differ from torch.load's", fname[fi], tname[k]);
        }
        CHECK(bad == 0, "%s: %d tensors differ", fname[fi], bad);
        cs_weights_free(w);
    }
    if (!g_fail) printf("OK: %d files x %d tensors equal torch.load's exactly\n", nf, nt);
    return g_fail;
}

/* ---- expect: one outcome ---------------------------------------------------------------------- */

static int test_expect(const char *path, const char *status, const char *text, unsigned flags) {
    cs_weights *w = NULL;
    cs_status st = cs_weights_load_ex(path, flags, &w);
    printf("%s: %s: %s\n", path, cs_status_name(st), st ? cs_last_error() : "loaded");
    CHECK(!strcmp(cs_status_name(st), status), "status %s, expected %s", cs_status_name(st), status);
    if (st != CS_OK) {
        CHECK(strstr(cs_last_error(), text) != NULL, "message '%s' lacks '%s'", cs_last_error(), text);
        CHECK(w == NULL, "no partial weights");
    }
    cs_weights_free(w);
    return g_fail;
}

/* ---- mutate: deterministic corruption --------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static long g_counts[16];

static void mutate_one(const unsigned char *buf, size_t len, unsigned flags, const char *what) {
    cs_weights *w = (cs_weights *)1;
    cs_error_clear();
    cs_status st = cs_weights_load_memory(buf, len, "mutant", flags, &w);
    g_counts[st < 16 ? st : 15]++;
    if (st == CS_OK) {
        /* touch every value: ASan / valgrind catch a bad pointer here */
        double acc = 0;
        for (size_t i = 0; i < cs_weights_tensor_count(w); i++) {
            cs_tensor_view v;
            cs_weights_tensor_at(w, i, &v);
            for (size_t j = 0; j < v.numel && (v.data || v.idata); j++)
                acc += v.data ? (double)v.data[j] : (double)v.idata[j];
        }
        (void)acc;
        cs_weights_free(w);
        return;
    }
    CHECK(w == NULL, "%s: partial weights on failure", what);
    CHECK(cs_status_exit_code(st) == 2, "%s: status %s is not a clean input error (%s)", what,
          cs_status_name(st), cs_last_error());
    CHECK(strstr(cs_last_error(), "mutant") != NULL, "%s: message does not name the file: '%s'", what,
          cs_last_error());
}

static int test_mutate(const char *dir) {
    static const char *files[] = {"small-legacy.pth", "small-zip.pth", "small-deflate.pth"};
    static const unsigned flagsets[] = {0, CS_WEIGHTS_ANY_MODEL, CS_WEIGHTS_HEADER_ONLY};
    long cases = 0;
    clock_t t0 = clock();
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[fi]);
        size_t len;
        unsigned char *orig = read_all(path, &len);
        CHECK(orig != NULL, "read %s", path);
        if (!orig) continue;
        unsigned char *buf = malloc(len + 1);
        /* the intact file loads (so the mutants below are really reaching deep code) */
        cs_weights *w = NULL;
        CHECK(cs_weights_load_memory(orig, len, "intact", CS_WEIGHTS_ANY_MODEL, &w) == CS_OK, "%s: %s",
              files[fi], cs_last_error());
        cs_weights_free(w);
        for (size_t fl = 0; fl < 3; fl++) {
            /* every truncation: must fail, except header-only loads of a legacy file cut in its data */
            for (size_t cut = 0; cut < len; cut++) {
                memcpy(buf, orig, cut);
                cs_status st = cs_weights_load_memory(buf, cut, "mutant", flagsets[fl], &w);
                if (st == CS_OK) cs_weights_free(w);
                if (flagsets[fl] != CS_WEIGHTS_HEADER_ONLY)
                    CHECK(st != CS_OK, "%s cut at %zu of %zu loaded", files[fi], cut, len);
                mutate_one(buf, cut, flagsets[fl], "truncation");
                cases++;
            }
            /* seeded byte mutations: 1 to 4 bytes set to random or boundary values */
            for (int k = 0; k < 1500; k++) {
                memcpy(buf, orig, len);
                int nmut = 1 + (int)(rnd() % 4);
                for (int m = 0; m < nmut; m++) {
                    size_t pos = (size_t)(rnd() % len);
                    static const unsigned char special[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
                    uint64_t r = rnd();
                    buf[pos] = (r & 1) ? (unsigned char)(r >> 8) : special[(r >> 8) % sizeof special];
                }
                mutate_one(buf, len, flagsets[fl], "flip");
                cases++;
            }
        }
        free(buf);
        free(orig);
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("%ld mutants in %.2f s CPU:", cases, secs);
    for (int s = 0; s < 16; s++)
        if (g_counts[s]) printf(" %s %ld", cs_status_name((cs_status)s), g_counts[s]);
    printf("\n");
    CHECK(cases >= 3000, "too few cases");
    return g_fail;
}

/* ---- discover --------------------------------------------------------------------------------- */

static void touch(const char *path) {
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
}

static int test_discover(const char *tmp) {
    char home[2048], th[2048], a[4096], b[4096], out[4096], cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/home/.cache/torch/hub/checkpoints' '%s/th/hub/checkpoints'",
             tmp, tmp, tmp);
    CHECK(system(cmd) == 0, "mkdir");
    snprintf(home, sizeof home, "%s/home", tmp);
    snprintf(th, sizeof th, "%s/th", tmp);
    setenv("HOME", home, 1);
    setenv("TORCH_HOME", th, 1);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("COPYSCOPE_WEIGHTS");

    cs_status st = cs_weights_find(NULL, out, sizeof out);
    CHECK(st == CS_E_NOTFOUND, "nothing there: %s", cs_status_name(st));
    const char *msg = cs_last_error();
    printf("not found: %s\n", msg);
    CHECK(strstr(msg, CS_WEIGHTS_OFFICIAL_URL) != NULL, "URL in message");
    snprintf(a, sizeof a, "%s/hub/checkpoints/" CS_WEIGHTS_OFFICIAL_NAME, th);
    snprintf(b, sizeof b, "%s/.cache/torch/hub/checkpoints/" CS_WEIGHTS_OFFICIAL_NAME, home);
    CHECK(strstr(msg, a) && strstr(msg, b), "both places in the message");

    touch(b);
    CHECK(cs_weights_find(NULL, out, sizeof out) == CS_OK && !strcmp(out, b), "~/.cache: %s", out);
    touch(a);
    CHECK(cs_weights_find(NULL, out, sizeof out) == CS_OK && !strcmp(out, a), "$TORCH_HOME first: %s", out);
    char env[4096];
    snprintf(env, sizeof env, "%s/mine.pth", tmp);
    touch(env);
    setenv("COPYSCOPE_WEIGHTS", env, 1);
    CHECK(cs_weights_find(NULL, out, sizeof out) == CS_OK && !strcmp(out, env), "$COPYSCOPE_WEIGHTS first: %s", out);
    CHECK(cs_weights_find(a, out, sizeof out) == CS_OK && !strcmp(out, a), "explicit first: %s", out);
    snprintf(a, sizeof a, "%s/absent.pth", tmp);
    st = cs_weights_find(a, out, sizeof out);
    CHECK(st == CS_E_NOTFOUND && strstr(cs_last_error(), "absent.pth"), "explicit missing: %s", cs_last_error());
    CHECK(cs_weights_find(env, out, 4) == CS_E_USAGE, "small buffer");
    return g_fail;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "fixture")) return test_fixture(argv[2]);
    if (argc >= 5 && !strcmp(argv[1], "ref")) return test_ref(argv[2], argv[3], parse_flags(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "expect"))
        return test_expect(argv[2], argv[3], argv[4], parse_flags(argc > 5 ? argv[5] : NULL));
    if (argc >= 3 && !strcmp(argv[1], "mutate")) return test_mutate(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "discover")) return test_discover(argv[2]);
    fprintf(stderr, "usage: test_weights fixture|ref|expect|mutate|discover ...\n");
    return 2;
}
