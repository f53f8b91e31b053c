/* Attribution estimators over a cooperative game given by measured coalition utilities.
 *
 * Notation: n players, coalitions as bitmasks, v(S) the utility, N the grand coalition, 0 the
 * empty coalition (the baseline pipeline). Sign convention: positive = toward the reference.
 *
 * exact       phi_i = sum_{S not containing i} w(|S|) (v(S+i) - v(S)), w(s) = s!(n-1-s)!/n!
 *             = 1 / (n C(n-1, s)); one pass over the 2^n masks, O(n 2^n), compensated sums.
 * banzhaf     beta_i = 2^-(n-1) sum_{S not containing i} (v(S+i) - v(S)).
 * loo         v(N) - v(N \ i).
 * kernelshap  min sum_S k(S) (v(S) - v(0) - sum_{i in S} x_i)^2  s.t.  sum x = v(N) - v(0),
 *             solved exactly in the null space of the constraint: x = T/n 1 + Q c with Q an
 *             orthonormal basis of 1-perp (a Householder reflection), then a symmetric
 *             eigen-solve of Q^T A Q c = Q^T b (pseudo-inverse: min-norm if under-determined).
 * permutation Monte Carlo over permutations; Welford mean/variance per player.
 * paper       the public CopyScope code: each measured c(B) = v(B) - v(0) is a Harsanyi
 *             dividend split equally among B's members. */
#include "copyscope/shapley.h"

#include "core/blas.h"
#include "core/common.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

/* ---- a small open-addressing map: coalition mask -> index ------------------------------------- */

#define CS_MAP_EMPTY UINT64_MAX /* masks use at most 63 bits, so this never collides */

typedef struct cs_map {
    uint64_t *keys; /* (cap,) */
    size_t *vals;   /* (cap,) */
    size_t cap;     /* power of two */
    size_t count;
} cs_map;

static uint64_t cs_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void cs_map_free(cs_map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static cs_status cs_map_reserve(cs_map *m, size_t want) {
    size_t cap = 16;
    while (cap < 2 * want) {
        if (cap > SIZE_MAX / 4) return CS_FAIL(CS_E_NOMEM, "coalition map: too many entries (%zu)", want);
        cap *= 2;
    }
    if (cap <= m->cap) return CS_OK;
    size_t bytes;
    if (!cs_mul_size(cap, sizeof(uint64_t), &bytes)) return CS_FAIL(CS_E_NOMEM, "coalition map too large");
    uint64_t *keys = cs_malloc(bytes, "coalition map keys"); /* (cap,) */
    size_t *vals = cs_malloc(cap * sizeof(size_t), "coalition map values"); /* (cap,) */
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return CS_E_NOMEM;
    }
    for (size_t i = 0; i < cap; i++) keys[i] = CS_MAP_EMPTY;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == CS_MAP_EMPTY) continue;
        size_t h = (size_t)cs_mix64(m->keys[i]) & (cap - 1);
        while (keys[h] != CS_MAP_EMPTY) h = (h + 1) & (cap - 1);
        keys[h] = m->keys[i];
        vals[h] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return CS_OK;
}

/* 1 and *val when present. */
static int cs_map_get(const cs_map *m, uint64_t key, size_t *val) {
    if (!m->cap) return 0;
    size_t h = (size_t)cs_mix64(key) & (m->cap - 1);
    while (m->keys[h] != CS_MAP_EMPTY) {
        if (m->keys[h] == key) {
            *val = m->vals[h];
            return 1;
        }
        h = (h + 1) & (m->cap - 1);
    }
    return 0;
}

/* Insert or replace. */
static cs_status cs_map_put(cs_map *m, uint64_t key, size_t val) {
    CS_ASSERT(key != CS_MAP_EMPTY);
    CS_TRY(cs_map_reserve(m, m->count + 1));
    size_t h = (size_t)cs_mix64(key) & (m->cap - 1);
    while (m->keys[h] != CS_MAP_EMPTY && m->keys[h] != key) h = (h + 1) & (m->cap - 1);
    if (m->keys[h] == CS_MAP_EMPTY) m->count++;
    m->keys[h] = key;
    m->vals[h] = val;
    return CS_OK;
}

/* ---- game ----------------------------------------------------------------------------------- */

struct cs_game {
    int n;
    char **names;     /* (n,) */
    uint64_t *masks;  /* (cap,) measured coalitions, insertion order */
    double *utils;    /* (cap,) */
    size_t count, cap;
    cs_map index;     /* mask -> position in masks/utils */
};

static uint64_t cs_full_mask(int n) { return n >= 64 ? UINT64_MAX : ((uint64_t)1 << n) - 1; }

static int cs_popcount(uint64_t x) { return __builtin_popcountll(x); }

static cs_status cs_check_name(const char *name, int i) {
    if (!name || !name[0]) return CS_FAIL(CS_E_USAGE, "player %d: empty name", i + 1);
    size_t len = strlen(name);
    if (len > CS_PLAYER_NAME_MAX)
        return CS_FAIL(CS_E_USAGE, "player %d: name longer than %d bytes", i + 1, CS_PLAYER_NAME_MAX);
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)name[k];
        if (c < 0x20 || c == 0x7f || c == '+' || c == ',')
            return CS_FAIL(CS_E_USAGE, "player '%.64s': names may not contain '+', ',' or control characters",
                           name);
    }
    if (name[0] == ' ' || name[len - 1] == ' ')
        return CS_FAIL(CS_E_USAGE, "player '%.64s': leading or trailing space in name", name);
    if (!strcmp(name, "(baseline)"))
        return CS_FAIL(CS_E_USAGE, "'(baseline)' is reserved for the empty coalition, not a player name");
    return CS_OK;
}

cs_status cs_game_create(int n, const char *const *names, cs_game **out) {
    *out = NULL;
    if (n < 1 || n > CS_GAME_MAX_PLAYERS)
        return CS_FAIL(CS_E_USAGE, "a game needs 1 to %d players, got %d", CS_GAME_MAX_PLAYERS, n);
    for (int i = 0; i < n; i++) {
        CS_TRY(cs_check_name(names[i], i));
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                return CS_FAIL(CS_E_USAGE, "player '%s' is listed twice", names[i]);
    }
    cs_game *g = cs_calloc(1, sizeof *g, "game");
    if (!g) return CS_E_NOMEM;
    g->n = n;
    g->names = cs_calloc((size_t)n, sizeof(char *), "player names");
    if (!g->names) goto nomem;
    for (int i = 0; i < n; i++) {
        g->names[i] = strdup(names[i]);
        if (!g->names[i]) goto nomem;
    }
    *out = g;
    return CS_OK;
nomem:
    cs_game_free(g);
    return CS_FAIL(CS_E_NOMEM, "out of memory creating a game of %d players", n);
}

void cs_game_free(cs_game *g) {
    if (!g) return;
    if (g->names)
        for (int i = 0; i < g->n; i++) free(g->names[i]);
    free(g->names);
    free(g->masks);
    free(g->utils);
    cs_map_free(&g->index);
    free(g);
}

int cs_game_n_players(const cs_game *g) { return g->n; }
const char *cs_game_player_name(const cs_game *g, int i) {
    CS_ASSERT(i >= 0 && i < g->n);
    return g->names[i];
}

cs_status cs_game_set(cs_game *g, uint64_t mask, double utility) {
    if (mask & ~cs_full_mask(g->n))
        return CS_FAIL(CS_E_USAGE, "coalition 0x%llx names players beyond the %d of the game",
                       (unsigned long long)mask, g->n);
    if (!isfinite(utility)) return CS_FAIL(CS_E_USAGE, "utility of a coalition is not finite");
    size_t at;
    if (cs_map_get(&g->index, mask, &at)) {
        g->utils[at] = utility;
        return CS_OK;
    }
    if (g->count == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        uint64_t *m = realloc(g->masks, cap * sizeof *m);
        if (m) g->masks = m;
        double *u = realloc(g->utils, cap * sizeof *u);
        if (u) g->utils = u;
        if (!m || !u) return CS_FAIL(CS_E_NOMEM, "out of memory growing a game to %zu coalitions", cap);
        g->cap = cap;
    }
    CS_TRY(cs_map_put(&g->index, mask, g->count));
    g->masks[g->count] = mask;
    g->utils[g->count] = utility;
    g->count++;
    return CS_OK;
}

int cs_game_get(const cs_game *g, uint64_t mask, double *utility) {
    size_t at;
    if (!cs_map_get(&g->index, mask, &at)) return 0;
    *utility = g->utils[at];
    return 1;
}

size_t cs_game_n_measured(const cs_game *g) { return g->count; }

uint64_t cs_game_n_missing(const cs_game *g) {
    CS_ASSERT(g->n <= 62);
    return ((uint64_t)1 << g->n) - (uint64_t)g->count;
}

char *cs_game_coalition_str(const cs_game *g, uint64_t mask, char *buf, size_t cap) {
    CS_ASSERT(cap >= 16);
    if (!mask) {
        snprintf(buf, cap, "(baseline)");
        return buf;
    }
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < g->n; i++) {
        if (!(mask >> i & 1)) continue;
        size_t nl = strlen(g->names[i]);
        if (len + (len ? 1 : 0) + nl + 4 > cap) { /* keep room for "..." and the NUL */
            memcpy(buf + (len + 4 <= cap ? len : cap - 4), "...", 4);
            return buf;
        }
        if (len) buf[len++] = '+';
        memcpy(buf + len, g->names[i], nl + 1);
        len += nl;
    }
    return buf;
}

/* ---- results -------------------------------------------------------------------------------- */

const char *cs_estimator_name(cs_estimator e) {
    switch (e) {
    case CS_EST_EXACT: return "exact";
    case CS_EST_LOO: return "loo";
    case CS_EST_BANZHAF: return "banzhaf";
    case CS_EST_KERNELSHAP: return "kernelshap";
    case CS_EST_PERMUTATION: return "permutation";
    case CS_EST_PAPER: return "paper";
    }
    return "unknown";
}

int cs_estimator_parse(const char *name, cs_estimator *out) {
    static const cs_estimator all[] = {CS_EST_EXACT,      CS_EST_LOO,         CS_EST_BANZHAF,
                                       CS_EST_KERNELSHAP, CS_EST_PERMUTATION, CS_EST_PAPER};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (!strcmp(name, cs_estimator_name(all[k]))) {
            *out = all[k];
            return 1;
        }
    return 0;
}

void cs_attribution_free(cs_attribution *a) {
    if (!a) return;
    free(a->values);
    free(a->normalized);
    free(a->std_error);
    a->values = a->normalized = a->std_error = NULL;
}

static cs_status cs_attribution_begin(cs_attribution *a, cs_estimator e, int n, int with_se) {
    memset(a, 0, sizeof *a);
    a->estimator = e;
    a->n = n;
    a->efficiency_gap = NAN;
    a->values = cs_calloc((size_t)n, sizeof(double), "attribution values");         /* (n,) */
    a->normalized = cs_calloc((size_t)n, sizeof(double), "attribution normalized"); /* (n,) */
    if (with_se) a->std_error = cs_calloc((size_t)n, sizeof(double), "standard errors"); /* (n,) */
    if (!a->values || !a->normalized || (with_se && !a->std_error)) {
        cs_attribution_free(a);
        return CS_E_NOMEM;
    }
    return CS_OK;
}

/* normalized values and efficiency gap; total = v(N) - v(0) or NaN */
static void cs_attribution_finish(cs_attribution *a, double total) {
    double sum = 0.0, sum_abs = 0.0;
    for (int i = 0; i < a->n; i++) {
        sum += a->values[i];
        sum_abs += fabs(a->values[i]);
    }
    for (int i = 0; i < a->n; i++) a->normalized[i] = sum_abs > 0.0 ? a->values[i] / sum_abs : 0.0;
    a->efficiency_gap = isfinite(total) ? sum - total : NAN;
}

static double cs_game_total(const cs_game *g) {
    double v0, vn;
    if (!cs_game_get(g, 0, &v0) || !cs_game_get(g, cs_full_mask(g->n), &vn)) return NAN;
    return vn - v0;
}

/* CS_E_USAGE listing (some of) the coalitions among `need` that are not measured. */
static cs_status cs_fail_missing(const cs_game *g, const char *what, const uint64_t *need, size_t n_need,
                                 uint64_t n_missing_total) {
    char msg[900];
    int len = snprintf(msg, sizeof msg, "%s needs %llu coalition%s that %s not measured: ", what,
                       (unsigned long long)n_missing_total, n_missing_total == 1 ? "" : "s",
                       n_missing_total == 1 ? "is" : "are");
    size_t shown = 0;
    char name[160];
    for (size_t k = 0; k < n_need; k++) {
        cs_game_coalition_str(g, need[k], name, sizeof name);
        if ((size_t)len + strlen(name) + 40 >= sizeof msg) break;
        len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%s", shown ? ", " : "", name);
        shown++;
    }
    if (shown < n_missing_total)
        snprintf(msg + len, sizeof msg - (size_t)len, ", ... (%llu more)",
                 (unsigned long long)(n_missing_total - shown));
    return CS_FAIL(CS_E_USAGE, "%s", msg);
}

/* Dense utilities v[2^n] of a full table; fails listing what is missing. */
static cs_status cs_game_dense(const cs_game *g, const char *what, double **out) {
    *out = NULL;
    if (g->n > CS_GAME_MAX_FULL)
        return CS_FAIL(CS_E_UNSUPPORTED, "%s enumerates all 2^n coalitions and supports at most %d players, got %d",
                       what, CS_GAME_MAX_FULL, g->n);
    size_t total = (size_t)1 << g->n;
    double *v = cs_malloc(total * sizeof(double), "dense utilities"); /* (2^n,) */
    if (!v) return CS_E_NOMEM;
    uint64_t missing[16];
    size_t n_missing = 0;
    for (size_t s = 0; s < total; s++)
        if (!cs_game_get(g, s, &v[s])) {
            if (n_missing < 16) missing[n_missing] = s;
            n_missing++;
        }
    if (n_missing) {
        free(v);
        return cs_fail_missing(g, what, missing, n_missing < 16 ? n_missing : 16, n_missing);
    }
    *out = v;
    return CS_OK;
}

/* Neumaier compensated accumulation. */
typedef struct { double s, c; } cs_ksum;
static inline void cs_ksum_add(cs_ksum *k, double x) {
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x)) k->c += (k->s - t) + x;
    else k->c += (x - t) + k->s;
    k->s = t;
}

/* sum_{S not containing i} w(|S|) (v(S+i) - v(S)) for all i. */
static cs_status cs_marginal_sums(const cs_game *g, const double *v, const double *w, double *out) {
    int n = g->n;
    cs_ksum *acc = cs_calloc((size_t)n, sizeof *acc, "accumulators"); /* (n,) */
    if (!acc) return CS_E_NOMEM;
    size_t total = (size_t)1 << n;
    for (size_t s = 0; s < total; s++) {
        int size = cs_popcount(s);
        double vs = v[s];
        for (int i = 0; i < n; i++) {
            size_t bit = (size_t)1 << i;
            if (s & bit) continue;
            cs_ksum_add(&acc[i], w[size] * (v[s | bit] - vs));
        }
    }
    for (int i = 0; i < n; i++) out[i] = acc[i].s + acc[i].c;
    free(acc);
    return CS_OK;
}

cs_status cs_shapley_exact(const cs_game *g, cs_attribution *out) {
    double *v = NULL;
    CS_TRY(cs_game_dense(g, "the exact Shapley value", &v));
    cs_status st = cs_attribution_begin(out, CS_EST_EXACT, g->n, 0);
    if (st) {
        free(v);
        return st;
    }
    int n = g->n;
    double w[CS_GAME_MAX_FULL + 1];
    double binom = 1.0; /* C(n-1, s), exact in double for n <= 20 */
    for (int s = 0; s < n; s++) {
        w[s] = 1.0 / ((double)n * binom);
        binom = binom * (double)(n - 1 - s) / (double)(s + 1);
    }
    st = cs_marginal_sums(g, v, w, out->values);
    if (!st) {
        out->n_samples = out->n_evals = (size_t)1 << n;
        cs_attribution_finish(out, v[((size_t)1 << n) - 1] - v[0]);
    } else {
        cs_attribution_free(out);
    }
    free(v);
    return st;
}

cs_status cs_banzhaf(const cs_game *g, cs_attribution *out) {
    double *v = NULL;
    CS_TRY(cs_game_dense(g, "the Banzhaf value", &v));
    cs_status st = cs_attribution_begin(out, CS_EST_BANZHAF, g->n, 0);
    if (st) {
        free(v);
        return st;
    }
    double w[CS_GAME_MAX_FULL + 1];
    for (int s = 0; s <= g->n; s++) w[s] = ldexp(1.0, -(g->n - 1));
    st = cs_marginal_sums(g, v, w, out->values);
    if (!st) {
        out->n_samples = out->n_evals = (size_t)1 << g->n;
        cs_attribution_finish(out, v[((size_t)1 << g->n) - 1] - v[0]);
        snprintf(out->note, sizeof out->note,
                 "Banzhaf values are not efficient: they need not sum to v(N) - v(baseline)");
    } else {
        cs_attribution_free(out);
    }
    free(v);
    return st;
}

cs_status cs_leave_one_out(const cs_game *g, cs_attribution *out) {
    int n = g->n;
    uint64_t full = cs_full_mask(n);
    uint64_t need[CS_GAME_MAX_PLAYERS + 1];
    size_t n_missing = 0;
    double vn = 0.0, tmp = 0.0;
    if (!cs_game_get(g, full, &vn)) need[n_missing++] = full;
    for (int i = 0; i < n; i++)
        if (!cs_game_get(g, full & ~((uint64_t)1 << i), &tmp)) need[n_missing++] = full & ~((uint64_t)1 << i);
    if (n_missing) return cs_fail_missing(g, "leave-one-out", need, n_missing, n_missing);
    CS_TRY(cs_attribution_begin(out, CS_EST_LOO, n, 0));
    for (int i = 0; i < n; i++) {
        cs_game_get(g, full & ~((uint64_t)1 << i), &tmp);
        out->values[i] = vn - tmp;
    }
    out->n_samples = out->n_evals = (size_t)n + 1;
    cs_attribution_finish(out, cs_game_total(g));
    return CS_OK;
}

/* C(n, k) in double (exact up to 2^53, relative error ~1e-16 beyond). */
static double cs_binom(int n, int k) {
    if (k < 0 || k > n) return 0.0;
    if (k > n - k) k = n - k;
    double r = 1.0;
    for (int j = 1; j <= k; j++) r = r * (double)(n - k + j) / (double)j;
    return r < 9007199254740992.0 ? nearbyint(r) : r;
}

/* Solve in the null space of the efficiency constraint. Design row of coalition S (0 < S < N):
 * r_S = Q^T z_S (z_S its indicator), target y_S = v(S) - v(0) - |S| T / n, weight k(|S|); then
 * x = T/n 1 + Q c with c = argmin sum_S k_S (r_S . c - y_S)^2.
 * Small designs (<= 64 MiB) are solved by SVD least squares on the weighted rows (LAPACK dgelsd,
 * condition number of the design, not its square: sampled tables of many players mix kernel
 * weights from 1/n down to 1e-13). Larger ones (near-full tables of 19-20 players, well
 * conditioned) accumulate the normal equations and use a symmetric eigen-solve. Directions
 * whose singular value is below 1e-10 of the largest are treated as undetermined. */
#define CS_KERNELSHAP_SVD_BYTES ((size_t)64 << 20)

cs_status cs_kernelshap(const cs_game *g, cs_attribution *out) {
    int n = g->n;
    uint64_t full = cs_full_mask(n);
    double v0, vn;
    int have0 = cs_game_get(g, 0, &v0), haven = cs_game_get(g, full, &vn);
    if (!have0 || !haven) {
        uint64_t need[2];
        size_t k = 0;
        if (!have0) need[k++] = 0;
        if (!haven) need[k++] = full;
        return cs_fail_missing(g, "kernelshap (the empty and grand coalitions are required)", need, k, k);
    }
    double total = vn - v0;
    CS_TRY(cs_attribution_begin(out, CS_EST_KERNELSHAP, n, 0));
    out->is_estimate = 1;
    out->n_evals = g->count;
    if (n == 1) {
        out->values[0] = total;
        out->rank = 0;
        cs_attribution_finish(out, total);
        return CS_OK;
    }
    cs_status st = CS_OK;
    int m = n - 1;
    size_t rows = 0;
    for (size_t k = 0; k < g->count; k++)
        if (g->masks[k] != 0 && g->masks[k] != full) rows++;
    out->n_samples = rows;
    size_t ldr = rows > (size_t)m ? rows : (size_t)m;
    size_t design = 0;
    int use_svd = cs_mul_size(ldr, (size_t)m * sizeof(double), &design) && design <= CS_KERNELSHAP_SVD_BYTES;
    double q[CS_GAME_MAX_PLAYERS * CS_GAME_MAX_PLAYERS]; /* (n, n) Householder H, row-major */
    double kw[CS_GAME_MAX_PLAYERS + 1], c[CS_GAME_MAX_PLAYERS] = {0}, r[CS_GAME_MAX_PLAYERS];
    double *ad = NULL, *bd = NULL, *sv = NULL, *ar = NULL, *br = NULL, *ev = NULL;
    int rank = 0;
    /* H = I - 2 u u^T / (u^T u), u = a - e1, a = 1/sqrt(n): H e1 = a, so columns 1..n-1 of H are
     * an orthonormal basis Q of the complement of the all-ones vector. */
    {
        double a = 1.0 / sqrt((double)n), u[CS_GAME_MAX_PLAYERS], uu = 0.0;
        for (int i = 0; i < n; i++) u[i] = a - (i == 0 ? 1.0 : 0.0);
        for (int i = 0; i < n; i++) uu += u[i] * u[i];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) q[i * n + j] = (i == j) - 2.0 * u[i] * u[j] / uu;
    }
    for (int s = 1; s < n; s++) kw[s] = (double)(n - 1) / (cs_binom(n, s) * (double)s * (double)(n - s));
    if (rows == 0) goto solved;
    if (use_svd) {
        ad = cs_calloc(ldr * (size_t)m, sizeof(double), "kernelshap design"); /* (m, ldr) column-major */
        bd = cs_calloc(ldr, sizeof(double), "kernelshap targets");            /* (ldr,) */
        sv = cs_malloc((size_t)m * sizeof(double), "singular values");       /* (m,) */
        if (!ad || !bd || !sv) {
            st = CS_E_NOMEM;
            goto done;
        }
    } else {
        ar = cs_calloc((size_t)m * (size_t)m, sizeof(double), "kernelshap normal matrix"); /* (m, m) */
        br = cs_calloc((size_t)m, sizeof(double), "kernelshap normal rhs");               /* (m,) */
        ev = cs_malloc((size_t)m * sizeof(double), "kernelshap eigenvalues");            /* (m,) */
        if (!ar || !br || !ev) {
            st = CS_E_NOMEM;
            goto done;
        }
    }
    size_t row = 0;
    for (size_t k = 0; k < g->count; k++) {
        uint64_t s = g->masks[k];
        if (s == 0 || s == full) continue;
        int size = cs_popcount(s);
        for (int j = 0; j < m; j++) r[j] = 0.0;
        for (int i = 0; i < n; i++)
            if (s >> i & 1)
                for (int j = 0; j < m; j++) r[j] += q[i * n + j + 1];
        double y = g->utils[k] - v0 - (double)size * total / (double)n;
        if (use_svd) {
            double sw = sqrt(kw[size]);
            for (int j = 0; j < m; j++) ad[(size_t)j * ldr + row] = sw * r[j];
            bd[row] = sw * y;
        } else {
            for (int a = 0; a < m; a++) {
                br[a] += kw[size] * r[a] * y;
                for (int b = 0; b < m; b++) ar[a * m + b] += kw[size] * r[a] * r[b];
            }
        }
        row++;
    }
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    if (use_svd) {
        lapack_int lrank = 0;
        lapack_int info = LAPACKE_dgelsd(LAPACK_COL_MAJOR, (lapack_int)rows, m, 1, ad, (lapack_int)ldr, bd,
                                         (lapack_int)ldr, sv, 1e-10, &lrank);
        if (info != 0) {
            st = CS_FAIL(CS_E_NUMERIC, "kernelshap: least-squares solve failed (dgelsd info %d)", (int)info);
            goto done;
        }
        rank = (int)lrank;
        for (int j = 0; j < m; j++) c[j] = bd[j];
    } else {
        lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', m, ar, m, ev);
        if (info != 0) {
            st = CS_FAIL(CS_E_NUMERIC, "kernelshap: eigen-decomposition failed (dsyev info %d)", (int)info);
            goto done;
        }
        double emax = ev[m - 1]; /* eigenvalues are squared singular values: threshold 1e-20 */
        for (int k = 0; k < m && emax > 0.0; k++) {
            if (ev[k] <= emax * 1e-20) continue;
            rank++;
            double proj = 0.0;
            for (int a = 0; a < m; a++) proj += ar[a * m + k] * br[a];
            proj /= ev[k];
            for (int a = 0; a < m; a++) c[a] += ar[a * m + k] * proj;
        }
    }
solved:
    out->rank = rank;
    for (int i = 0; i < n; i++) {
        double v = total / (double)n;
        for (int j = 0; j < m; j++) v += q[i * n + j + 1] * c[j];
        out->values[i] = v;
    }
    cs_attribution_finish(out, total);
    if (rank < m)
        snprintf(out->note, sizeof out->note,
                 "under-determined: the %zu measured coalitions fix %d of %d degrees of freedom; "
                 "minimum-norm solution shown, measure more coalitions",
                 rows, rank, m);
done:
    free(ad);
    free(bd);
    free(sv);
    free(ar);
    free(br);
    free(ev);
    if (st) cs_attribution_free(out);
    return st;
}

cs_status cs_paper_dividends(const cs_game *g, cs_attribution *out) {
    double v0;
    if (!cs_game_get(g, 0, &v0)) {
        uint64_t need = 0;
        return cs_fail_missing(g, "the paper estimator", &need, 1, 1);
    }
    CS_TRY(cs_attribution_begin(out, CS_EST_PAPER, g->n, 0));
    cs_ksum acc[CS_GAME_MAX_PLAYERS];
    memset(acc, 0, sizeof acc);
    size_t used = 0;
    for (size_t k = 0; k < g->count; k++) {
        uint64_t s = g->masks[k];
        if (!s) continue;
        double share = (g->utils[k] - v0) / (double)cs_popcount(s);
        for (int i = 0; i < g->n; i++)
            if (s >> i & 1) cs_ksum_add(&acc[i], share);
        used++;
    }
    for (int i = 0; i < g->n; i++) out->values[i] = acc[i].s + acc[i].c;
    out->n_samples = used;
    out->n_evals = g->count;
    cs_attribution_finish(out, cs_game_total(g));
    snprintf(out->note, sizeof out->note,
             "paper formula: each measured coalition's gain is split equally among its members "
             "(a Harsanyi-dividend reading); not the Shapley value unless the table is complete and "
             "the game has no interactions");
    return CS_OK;
}

/* ---- random permutations -------------------------------------------------------------------- */

typedef struct { uint64_t s[4]; } cs_rng;

static uint64_t cs_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A generator that depends only on (seed, stream). */
static void cs_rng_seed(cs_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ cs_mix64(stream + 0x632be59bd9b4e019ULL);
    for (int i = 0; i < 4; i++) r->s[i] = cs_splitmix(&x);
}

static uint64_t cs_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t cs_rng_next(cs_rng *r) { /* xoshiro256** */
    uint64_t *s = r->s;
    uint64_t result = cs_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = cs_rotl(s[3], 45);
    return result;
}

/* uniform in [0, bound), unbiased */
static uint64_t cs_rng_below(cs_rng *r, uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t x = cs_rng_next(r);
        if (x >= threshold) return x % bound;
    }
}

static double cs_rng_uniform(cs_rng *r) { return (double)(cs_rng_next(r) >> 11) * 0x1.0p-53; }

static void cs_shuffle(cs_rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cs_rng_below(r, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void cs_permutation_sample(int n, uint64_t seed, uint64_t k, int antithetic, int *perm) {
    cs_rng r;
    cs_rng_seed(&r, seed, antithetic ? k / 2 : k);
    for (int i = 0; i < n; i++) perm[i] = i;
    cs_shuffle(&r, perm, n);
    if (antithetic && (k & 1))
        for (int i = 0; i < n / 2; i++) {
            int t = perm[i];
            perm[i] = perm[n - 1 - i];
            perm[n - 1 - i] = t;
        }
}

/* ---- permutation sampling ------------------------------------------------------------------- */

typedef struct {
    cs_utility_fn fn;
    void *ctx;
    cs_map map;    /* mask -> position in vals */
    double *vals;  /* (cap,) */
    size_t count, cap;
} cs_cache;

static cs_status cs_cache_eval(cs_cache *c, uint64_t mask, double *out) {
    size_t at;
    if (cs_map_get(&c->map, mask, &at)) {
        *out = c->vals[at];
        return CS_OK;
    }
    double v;
    CS_TRY(c->fn(c->ctx, mask, &v));
    if (!isfinite(v)) return CS_FAIL(CS_E_NUMERIC, "utility of coalition 0x%llx is not finite", (unsigned long long)mask);
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        double *nv = realloc(c->vals, cap * sizeof *nv);
        if (!nv) return CS_FAIL(CS_E_NOMEM, "out of memory caching %zu utilities", cap);
        c->vals = nv;
        c->cap = cap;
    }
    CS_TRY(cs_map_put(&c->map, mask, c->count));
    c->vals[c->count++] = v;
    *out = v;
    return CS_OK;
}

/* marginals of one permutation: m[perm[k]] = v(prefix k+1) - v(prefix k) */
static cs_status cs_perm_marginals(cs_cache *c, const int *perm, int n, double v0, double *m) {
    uint64_t mask = 0;
    double prev = v0;
    for (int k = 0; k < n; k++) {
        mask |= (uint64_t)1 << perm[k];
        double v;
        CS_TRY(cs_cache_eval(c, mask, &v));
        m[perm[k]] = v - prev;
        prev = v;
    }
    return CS_OK;
}

cs_status cs_shapley_permutation_fn(int n, cs_utility_fn fn, void *ctx, const cs_permutation_options *opt,
                                    cs_attribution *out) {
    cs_permutation_options o = {0};
    if (opt) o = *opt;
    if (n < 1 || n > CS_GAME_MAX_PLAYERS)
        return CS_FAIL(CS_E_USAGE, "permutation sampling needs 1 to %d players, got %d", CS_GAME_MAX_PLAYERS, n);
    if (!o.max_samples) o.max_samples = 1000;
    if (!o.min_samples) o.min_samples = 16;
    size_t per = o.antithetic ? 2 : 1;              /* permutations per sample */
    size_t max_draws = o.max_samples / per;          /* samples */
    if (max_draws < 2)
        return CS_FAIL(CS_E_USAGE, "permutation sampling needs at least 2 samples (%zu permutations%s)", 2 * per,
                       o.antithetic ? ", antithetic pairs" : "");
    cs_cache cache = {.fn = fn, .ctx = ctx};
    double *mean = NULL, *m2 = NULL, *marg = NULL, *x = NULL;
    int *perm = NULL;
    cs_status st = cs_attribution_begin(out, CS_EST_PERMUTATION, n, 1);
    if (st) return st;
    out->is_estimate = 1;
    mean = cs_calloc((size_t)n, sizeof(double), "permutation means");     /* (n,) */
    m2 = cs_calloc((size_t)n, sizeof(double), "permutation M2");          /* (n,) */
    marg = cs_calloc((size_t)n, sizeof(double), "permutation marginals"); /* (n,) */
    x = cs_calloc((size_t)n, sizeof(double), "permutation sample");       /* (n,) */
    perm = cs_calloc((size_t)n, sizeof(int), "permutation");               /* (n,) */
    if (!mean || !m2 || !marg || !x || !perm) {
        st = CS_E_NOMEM;
        goto done;
    }
    double v0, vn;
    CS_TRY_GOTO(st, cs_cache_eval(&cache, 0, &v0), done);
    CS_TRY_GOTO(st, cs_cache_eval(&cache, cs_full_mask(n), &vn), done);
    size_t count = 0;
    for (size_t d = 0; d < max_draws; d++) {
        for (int i = 0; i < n; i++) x[i] = 0.0;
        for (size_t p = 0; p < per; p++) {
            cs_permutation_sample(n, o.seed, d * per + p, o.antithetic, perm);
            st = cs_perm_marginals(&cache, perm, n, v0, marg);
            if (st) break;
            for (int i = 0; i < n; i++) x[i] += marg[i] / (double)per;
        }
        if (st == CS_E_NOTFOUND && o.stop_on_missing && count >= 2) {
            snprintf(out->note, sizeof out->note, "stopped after %zu permutations: %.180s", count * per,
                     cs_last_error());
            cs_error_clear();
            st = CS_OK;
            break;
        }
        if (st) goto done;
        count++;
        for (int i = 0; i < n; i++) { /* Welford */
            double delta = x[i] - mean[i];
            mean[i] += delta / (double)count;
            m2[i] += delta * (x[i] - mean[i]);
        }
        if (o.tol > 0.0 && count >= o.min_samples && count >= 2) {
            double worst = 0.0;
            for (int i = 0; i < n; i++) {
                double se = sqrt(m2[i] / (double)(count - 1) / (double)count);
                if (se > worst) worst = se;
            }
            if (worst < o.tol) {
                out->converged = 1;
                break;
            }
        }
    }
    if (count < 2) {
        st = CS_FAIL(CS_E_INTERNAL, "permutation sampling ended with %zu samples", count);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        out->values[i] = mean[i];
        out->std_error[i] = sqrt(m2[i] / (double)(count - 1) / (double)count);
    }
    out->n_samples = count * per;
    out->n_evals = cache.count;
    cs_attribution_finish(out, vn - v0);
    if (o.tol > 0.0 && !out->converged && !out->note[0])
        snprintf(out->note, sizeof out->note, "not converged: max standard error >= %g after %zu permutations",
                 o.tol, count * per);
done:
    free(mean);
    free(m2);
    free(marg);
    free(x);
    free(perm);
    cs_map_free(&cache.map);
    free(cache.vals);
    if (st) cs_attribution_free(out);
    return st;
}

static cs_status cs_game_utility_fn(void *ctx, uint64_t mask, double *u) {
    const cs_game *g = ctx;
    if (cs_game_get(g, mask, u)) return CS_OK;
    char name[200];
    return CS_FAIL(CS_E_NOTFOUND, "coalition %s is not measured (make the table with 'copyscope plan "
                                  "--estimator permutation' and the same --seed)",
                   cs_game_coalition_str(g, mask, name, sizeof name));
}

cs_status cs_shapley_permutation(const cs_game *g, const cs_permutation_options *opt, cs_attribution *out) {
    cs_status st = cs_shapley_permutation_fn(g->n, cs_game_utility_fn, (void *)g, opt, out);
    if (st == CS_E_NOTFOUND) st = CS_E_USAGE; /* a table that lacks what the sampler needs */
    return st;
}

cs_status cs_attribute(const cs_game *g, cs_estimator e, const cs_permutation_options *opt, cs_attribution *out) {
    switch (e) {
    case CS_EST_EXACT: return cs_shapley_exact(g, out);
    case CS_EST_LOO: return cs_leave_one_out(g, out);
    case CS_EST_BANZHAF: return cs_banzhaf(g, out);
    case CS_EST_KERNELSHAP: return cs_kernelshap(g, out);
    case CS_EST_PERMUTATION: return cs_shapley_permutation(g, opt, out);
    case CS_EST_PAPER: return cs_paper_dividends(g, out);
    }
    return CS_FAIL(CS_E_USAGE, "unknown estimator %d", (int)e);
}

/* ---- plans ---------------------------------------------------------------------------------- */

/* by size, then lexicographically by the sorted player indices */
static int cs_cmp_size_lex(const void *pa, const void *pb) {
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    int ca = cs_popcount(a), cb = cs_popcount(b);
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a == b) return 0;
    uint64_t d = a ^ b;
    uint64_t low = d & (~d + 1);
    return (a & low) ? -1 : 1;
}

typedef struct {
    uint64_t *masks; /* (cap,) */
    size_t count, cap;
    cs_map seen;
} cs_mask_list;

static cs_status cs_mask_list_add(cs_mask_list *l, uint64_t mask) {
    size_t at;
    if (cs_map_get(&l->seen, mask, &at)) return CS_OK;
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        uint64_t *nm = realloc(l->masks, cap * sizeof *nm);
        if (!nm) return CS_FAIL(CS_E_NOMEM, "out of memory listing %zu coalitions", cap);
        l->masks = nm;
        l->cap = cap;
    }
    CS_TRY(cs_map_put(&l->seen, mask, l->count));
    l->masks[l->count++] = mask;
    return CS_OK;
}

cs_status cs_plan_coalitions(int n, cs_estimator e, size_t budget, uint64_t seed, int antithetic, uint64_t **masks,
                             size_t *count) {
    *masks = NULL;
    *count = 0;
    if (n < 1 || n > CS_GAME_MAX_PLAYERS)
        return CS_FAIL(CS_E_USAGE, "a plan needs 1 to %d players, got %d", CS_GAME_MAX_PLAYERS, n);
    uint64_t full = cs_full_mask(n);
    if (e == CS_EST_EXACT || e == CS_EST_BANZHAF) {
        if (n > CS_GAME_MAX_FULL)
            return CS_FAIL(CS_E_USAGE, "an exact plan lists all 2^n coalitions: at most %d players, got %d",
                           CS_GAME_MAX_FULL, n);
        size_t total = (size_t)1 << n;
        uint64_t *m = cs_malloc(total * sizeof *m, "plan"); /* (2^n,) */
        if (!m) return CS_E_NOMEM;
        for (size_t s = 0; s < total; s++) m[s] = s;
        qsort(m, total, sizeof *m, cs_cmp_size_lex);
        *masks = m;
        *count = total;
        return CS_OK;
    }
    if (e != CS_EST_PERMUTATION && e != CS_EST_KERNELSHAP)
        return CS_FAIL(CS_E_USAGE, "no plan for estimator '%s' (use exact, permutation or kernelshap)",
                       cs_estimator_name(e));
    if (budget < 1) return CS_FAIL(CS_E_USAGE, "a %s plan needs a budget of at least 1", cs_estimator_name(e));
    if (budget > 10000000) return CS_FAIL(CS_E_USAGE, "budget %zu is more than 10000000", budget);
    cs_mask_list l = {0};
    cs_status st = CS_OK;
    int perm[CS_GAME_MAX_PLAYERS];
    CS_TRY_GOTO(st, cs_mask_list_add(&l, 0), fail);
    if (e == CS_EST_PERMUTATION) {
        for (size_t k = 0; k < budget; k++) {
            cs_permutation_sample(n, seed, k, antithetic, perm);
            uint64_t mask = 0;
            for (int i = 0; i < n; i++) {
                mask |= (uint64_t)1 << perm[i];
                CS_TRY_GOTO(st, cs_mask_list_add(&l, mask), fail);
            }
        }
    } else {
        CS_TRY_GOTO(st, cs_mask_list_add(&l, full), fail);
        /* size distribution of the Shapley kernel: p(s) ~ (n-1) / (s (n-s)), s = 1..n-1 */
        double cdf[CS_GAME_MAX_PLAYERS + 1] = {0};
        for (int s = 1; s < n; s++) cdf[s] = cdf[s - 1] + 1.0 / ((double)s * (double)(n - s));
        size_t want = budget + 2;
        if (n <= 62 && (uint64_t)budget > ((uint64_t)1 << n) - 2) want = (size_t)((uint64_t)1 << n); /* all */
        cs_rng r;
        cs_rng_seed(&r, seed, 0x6b65726e656cULL); /* "kernel" */
        size_t draws = 0, max_draws = 100 * budget + 100000;
        while (l.count < want && n > 1 && draws < max_draws) {
            draws++;
            double u = cs_rng_uniform(&r) * cdf[n - 1];
            int size = 1;
            while (size < n - 1 && cdf[size] <= u) size++;
            for (int i = 0; i < n; i++) perm[i] = i;
            uint64_t mask = 0;
            for (int k = 0; k < size; k++) { /* partial Fisher-Yates: a uniform subset of that size */
                int j = k + (int)cs_rng_below(&r, (uint64_t)(n - k));
                int t = perm[k];
                perm[k] = perm[j];
                perm[j] = t;
                mask |= (uint64_t)1 << perm[k];
            }
            CS_TRY_GOTO(st, cs_mask_list_add(&l, mask), fail);
            CS_TRY_GOTO(st, cs_mask_list_add(&l, full & ~mask), fail); /* paired sampling */
        }
    }
    cs_map_free(&l.seen);
    *masks = l.masks;
    *count = l.count;
    return CS_OK;
fail:
    cs_map_free(&l.seen);
    free(l.masks);
    return st;
}
