/* Attribution estimators: axioms on random games, classic games with published values, KernelSHAP
 * convergence, permutation standard errors, the paper formula and coalition-table parsing.
 *
 * Tolerances. Exact Shapley/Banzhaf values of games with utilities of order 1 and n <= 15 are sums
 * of at most n 2^(n-1) terms accumulated with compensated (Neumaier) summation: the rounding error
 * is a few ulps of the largest term, so 1e-12 absolute is ~1e4 ulps of head-room yet far below any
 * real error (a wrong weight changes values by >= 1e-3). KernelSHAP solves a linear system whose
 * condition number is < 1e3 here: 1e-10. Sampling estimators are checked statistically. */
#include "copyscope/shapley.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        cs_status st_ = (expr);                                                                    \
        CHECK(st_ == CS_OK, "%s -> %s: %s", #expr, cs_status_name(st_), cs_last_error());          \
    } while (0)

/* deterministic test RNG (splitmix64) */
static uint64_t rng_state = 12345;
static double urand(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static const char *const NAMES[] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10",
                                    "p11", "p12", "p13", "p14", "p15", "p16", "p17", "p18", "p19"};

typedef double (*game_fn)(uint64_t mask, const void *ctx);

static cs_game *make_game(int n, game_fn f, const void *ctx) {
    cs_game *g = NULL;
    CHECK_OK(cs_game_create(n, NAMES, &g));
    for (uint64_t s = 0; s < ((uint64_t)1 << n); s++) CHECK_OK(cs_game_set(g, s, f(s, ctx)));
    return g;
}

static cs_game *random_game(int n) {
    cs_game *g = NULL;
    CHECK_OK(cs_game_create(n, NAMES, &g));
    for (uint64_t s = 0; s < ((uint64_t)1 << n); s++) CHECK_OK(cs_game_set(g, s, 2.0 * urand() - 1.0));
    return g;
}

static double max_abs_diff(const double *a, const double *b, int n) {
    double m = 0.0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* ---- axioms -------------------------------------------------------------------------------- */

static void test_axioms(void) {
    for (int n = 1; n <= 12; n++) {
        for (int rep = 0; rep < 3; rep++) {
            cs_game *v = random_game(n), *w = random_game(n);
            cs_attribution av, aw, asum, ascaled;
            CHECK_OK(cs_shapley_exact(v, &av));
            CHECK_OK(cs_shapley_exact(w, &aw));
            /* efficiency */
            CHECK(fabs(av.efficiency_gap) < 1e-12, "n=%d efficiency gap %g", n, av.efficiency_gap);
            /* additivity and linearity: phi(v + 3 w) = phi(v) + 3 phi(w) */
            cs_game *sum = NULL;
            CHECK_OK(cs_game_create(n, NAMES, &sum));
            for (uint64_t s = 0; s < ((uint64_t)1 << n); s++) {
                double a, b;
                cs_game_get(v, s, &a);
                cs_game_get(w, s, &b);
                CHECK_OK(cs_game_set(sum, s, a + 3.0 * b));
            }
            CHECK_OK(cs_shapley_exact(sum, &asum));
            for (int i = 0; i < n; i++)
                CHECK(fabs(asum.values[i] - (av.values[i] + 3.0 * aw.values[i])) < 1e-12, "n=%d additivity player %d",
                      n, i);
            /* scaling */
            cs_game *scaled = NULL;
            CHECK_OK(cs_game_create(n, NAMES, &scaled));
            for (uint64_t s = 0; s < ((uint64_t)1 << n); s++) {
                double a;
                cs_game_get(v, s, &a);
                CHECK_OK(cs_game_set(scaled, s, -2.5 * a));
            }
            CHECK_OK(cs_shapley_exact(scaled, &ascaled));
            for (int i = 0; i < n; i++)
                CHECK(fabs(ascaled.values[i] + 2.5 * av.values[i]) < 1e-12, "n=%d linearity player %d", n, i);
            /* kernelshap with every coalition = exact */
            cs_attribution ak;
            CHECK_OK(cs_kernelshap(v, &ak));
            CHECK(max_abs_diff(ak.values, av.values, n) < 1e-10, "n=%d kernelshap full vs exact %g", n,
                  max_abs_diff(ak.values, av.values, n));
            CHECK(ak.rank == n - 1, "n=%d kernelshap rank %d", n, ak.rank);
            CHECK(fabs(ak.efficiency_gap) < 1e-12, "kernelshap efficiency %g", ak.efficiency_gap);
            cs_attribution_free(&ak);
            cs_attribution_free(&av);
            cs_attribution_free(&aw);
            cs_attribution_free(&asum);
            cs_attribution_free(&ascaled);
            cs_game_free(v);
            cs_game_free(w);
            cs_game_free(sum);
            cs_game_free(scaled);
        }
    }
    /* the largest full table: n = 20 (kernelshap takes its normal-equations path here) */
    {
        cs_game *v = random_game(20);
        cs_attribution ae, ak;
        CHECK_OK(cs_shapley_exact(v, &ae));
        CHECK_OK(cs_kernelshap(v, &ak));
        CHECK(fabs(ae.efficiency_gap) < 1e-12, "n=20 efficiency %g", ae.efficiency_gap);
        CHECK(max_abs_diff(ak.values, ae.values, 20) < 1e-10, "n=20 kernelshap vs exact %g",
              max_abs_diff(ak.values, ae.values, 20));
        cs_attribution_free(&ae);
        cs_attribution_free(&ak);
        cs_game_free(v);
    }
    /* symmetry and null player: v(S) depends on S only through |S & {0,1}| and S \ {0,1}; player
     * n-1 is null (v(S + n-1) = v(S)). Checked for Shapley and Banzhaf. */
    for (int n = 3; n <= 10; n++) {
        int nul = n - 1;
        double *base = malloc(sizeof(double) << n);
        for (uint64_t s = 0; s < ((uint64_t)1 << n); s++) base[s] = 2.0 * urand() - 1.0;
        cs_game *g = NULL;
        CHECK_OK(cs_game_create(n, NAMES, &g));
        for (uint64_t s = 0; s < ((uint64_t)1 << n); s++) {
            uint64_t key = s & ~((uint64_t)1 << nul); /* null player */
            int k = (int)(key & 1) + (int)(key >> 1 & 1);
            key = (key & ~(uint64_t)3) | (uint64_t)(k == 2 ? 3 : k == 1 ? 1 : 0); /* symmetric in 0,1 */
            CHECK_OK(cs_game_set(g, s, base[key]));
        }
        for (int e = 0; e < 2; e++) {
            cs_attribution a;
            CHECK_OK(e ? cs_banzhaf(g, &a) : cs_shapley_exact(g, &a));
            CHECK(fabs(a.values[0] - a.values[1]) < 1e-12, "n=%d %s symmetry %g vs %g", n,
                  cs_estimator_name(a.estimator), a.values[0], a.values[1]);
            CHECK(fabs(a.values[nul]) < 1e-12, "n=%d %s null player %g", n, cs_estimator_name(a.estimator),
                  a.values[nul]);
            cs_attribution_free(&a);
        }
        free(base);
        cs_game_free(g);
    }
}

/* ---- classic games --------------------------------------------------------------------------- */

static double glove(uint64_t s, const void *ctx) { /* L = {0,1}, R = {2} */
    int l = (int)(s & 1) + (int)(s >> 1 & 1), r = (int)(s >> 2 & 1);
    return l < r ? l : r;
}

typedef struct {
    int n;
    double quota;
    const double *w;
} majority;
static double weighted_majority(uint64_t s, const void *ctx) {
    const majority *m = ctx;
    double sum = 0.0;
    for (int i = 0; i < m->n; i++)
        if (s >> i & 1) sum += m->w[i];
    return sum >= m->quota ? 1.0 : 0.0;
}

static double airport(uint64_t s, const void *ctx) { /* cost of the longest runway needed */
    const double *c = ctx;
    double m = 0.0;
    for (int i = 0; i < 6; i++)
        if (s >> i & 1) m = fmax(m, c[i]);
    return m;
}

static void expect_values(const char *what, const cs_attribution *a, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++)
        CHECK(fabs(a->values[i] - want[i]) < tol, "%s player %d: %.17g, expected %.17g", what, i, a->values[i],
              want[i]);
}

static void test_classic(void) {
    cs_attribution a;
    /* glove game: (1/6, 1/6, 2/3) */
    cs_game *g = make_game(3, glove, NULL);
    CHECK_OK(cs_shapley_exact(g, &a));
    expect_values("glove", &a, (double[]){1.0 / 6, 1.0 / 6, 2.0 / 3}, 3, 1e-12);
    cs_attribution_free(&a);
    cs_game_free(g);

    /* weighted majority [3; 2, 1, 1]: Shapley-Shubik (2/3, 1/6, 1/6), Banzhaf (3/4, 1/4, 1/4) */
    static const double w3[] = {2, 1, 1};
    majority m3 = {3, 3.0, w3};
    g = make_game(3, weighted_majority, &m3);
    CHECK_OK(cs_shapley_exact(g, &a));
    expect_values("majority [3;2,1,1]", &a, (double[]){2.0 / 3, 1.0 / 6, 1.0 / 6}, 3, 1e-12);
    cs_attribution_free(&a);
    CHECK_OK(cs_banzhaf(g, &a));
    expect_values("banzhaf [3;2,1,1]", &a, (double[]){0.75, 0.25, 0.25}, 3, 1e-12);
    cs_attribution_free(&a);
    cs_game_free(g);

    /* weighted majority [51; 50, 49, 1]: player 0 is pivotal unless first: (2/3, 1/6, 1/6) */
    static const double w51[] = {50, 49, 1};
    majority m51 = {3, 51.0, w51};
    g = make_game(3, weighted_majority, &m51);
    CHECK_OK(cs_shapley_exact(g, &a));
    expect_values("majority [51;50,49,1]", &a, (double[]){2.0 / 3, 1.0 / 6, 1.0 / 6}, 3, 1e-12);
    cs_attribution_free(&a);
    cs_game_free(g);

    /* UN Security Council (Shapley & Shubik 1954): 5 permanent members (weight 7), 10 others
     * (weight 1), quota 39. A non-permanent member is pivotal after the 5 permanent and exactly 3
     * of the 9 other members: C(9,3) 8! 6! / 15! = 4/2145 (0.00186); permanent: 421/2145 (0.1963). */
    double wun[15];
    for (int i = 0; i < 15; i++) wun[i] = i < 5 ? 7.0 : 1.0;
    majority mun = {15, 39.0, wun};
    g = make_game(15, weighted_majority, &mun);
    CHECK_OK(cs_shapley_exact(g, &a));
    for (int i = 0; i < 15; i++) {
        double want = i < 5 ? 421.0 / 2145.0 : 4.0 / 2145.0;
        CHECK(fabs(a.values[i] - want) < 1e-12, "UNSC player %d: %.17g expected %.17g", i, a.values[i], want);
    }
    CHECK(fabs(a.values[0] - 0.1963) < 5e-5 && fabs(a.values[5] - 0.00186) < 5e-6, "UNSC published 4 digits");
    cs_attribution_free(&a);
    cs_game_free(g);

    /* airport game (Littlechild & Owen 1973): sorted costs c_1 <= ... <= c_n, v(S) = max c;
     * phi_i = sum_{k <= i} (c_k - c_{k-1}) / (n - k + 1). Costs are given unsorted. */
    static const double cost[6] = {8, 11, 13, 18, 13, 21};
    g = make_game(6, airport, cost);
    CHECK_OK(cs_shapley_exact(g, &a));
    {
        double sorted[6];
        memcpy(sorted, cost, sizeof sorted);
        for (int i = 0; i < 6; i++)
            for (int j = i + 1; j < 6; j++)
                if (sorted[j] < sorted[i]) {
                    double t = sorted[i];
                    sorted[i] = sorted[j];
                    sorted[j] = t;
                }
        for (int i = 0; i < 6; i++) {
            double want = 0.0, prev = 0.0;
            for (int k = 0; k < 6 && sorted[k] <= cost[i]; k++) {
                want += (sorted[k] - prev) / (double)(6 - k);
                prev = sorted[k];
            }
            CHECK(fabs(a.values[i] - want) < 1e-12, "airport player %d: %.17g expected %.17g", i, a.values[i], want);
        }
    }
    cs_attribution_free(&a);
    cs_game_free(g);
}

/* ---- KernelSHAP convergence ------------------------------------------------------------------ */

static void test_kernelshap_convergence(void) {
    const int n = 8, games = 20;
    const double fractions[] = {0.15, 0.3, 0.6, 0.9, 1.0};
    double err[5] = {0};
    for (int rep = 0; rep < games; rep++) {
        cs_game *full = random_game(n);
        /* additive part + small interactions: the regime where sampled KernelSHAP is useful */
        double lin[8];
        for (int i = 0; i < n; i++) lin[i] = 2.0 * urand() - 1.0;
        cs_game *v = NULL;
        CHECK_OK(cs_game_create(n, NAMES, &v));
        uint64_t total = (uint64_t)1 << n, order[256];
        for (uint64_t s = 0; s < total; s++) {
            double noise, sum = 0.0;
            cs_game_get(full, s, &noise);
            for (int i = 0; i < n; i++)
                if (s >> i & 1) sum += lin[i];
            CHECK_OK(cs_game_set(v, s, sum + 0.2 * noise));
            order[s] = s;
        }
        cs_attribution exact;
        CHECK_OK(cs_shapley_exact(v, &exact));
        /* random order of the proper coalitions */
        for (uint64_t k = total - 2; k > 1; k--) {
            uint64_t j = 1 + (uint64_t)(urand() * (double)k);
            uint64_t t = order[k];
            order[k] = order[j];
            order[j] = t;
        }
        for (int f = 0; f < 5; f++) {
            size_t m = (size_t)(fractions[f] * (double)(total - 2));
            cs_game *part = NULL;
            double u;
            CHECK_OK(cs_game_create(n, NAMES, &part));
            cs_game_get(v, 0, &u);
            CHECK_OK(cs_game_set(part, 0, u));
            cs_game_get(v, total - 1, &u);
            CHECK_OK(cs_game_set(part, total - 1, u));
            for (size_t k = 1; k <= m; k++) {
                cs_game_get(v, order[k], &u);
                CHECK_OK(cs_game_set(part, order[k], u));
            }
            cs_attribution ak;
            CHECK_OK(cs_kernelshap(part, &ak));
            CHECK(ak.is_estimate == 1, "kernelshap is an estimate");
            CHECK(fabs(ak.efficiency_gap) < 1e-12, "kernelshap efficiency is exact: %g", ak.efficiency_gap);
            err[f] += max_abs_diff(ak.values, exact.values, n) / games;
            cs_attribution_free(&ak);
            cs_game_free(part);
        }
        cs_attribution_free(&exact);
        cs_game_free(full);
        cs_game_free(v);
    }
    printf("kernelshap mean max error vs exact at 15/30/60/90/100%% of coalitions: %.3g %.3g %.3g %.3g %.3g\n",
           err[0], err[1], err[2], err[3], err[4]);
    for (int f = 1; f < 5; f++) CHECK(err[f] < err[f - 1], "kernelshap error does not decrease at step %d", f);
    CHECK(err[4] < 1e-10, "kernelshap at the full table: %g", err[4]);

    /* the empty and grand coalitions are required */
    cs_game *g = NULL;
    CHECK_OK(cs_game_create(3, NAMES, &g));
    CHECK_OK(cs_game_set(g, 0, 0.0));
    CHECK_OK(cs_game_set(g, 1, 1.0));
    cs_attribution a;
    CHECK(cs_kernelshap(g, &a) == CS_E_USAGE && strstr(cs_last_error(), "p0+p1+p2"),
          "kernelshap without grand: %s", cs_last_error());
    /* under-determined: rank reported, minimum-norm solution still efficient */
    CHECK_OK(cs_game_set(g, 7, 3.0));
    CHECK_OK(cs_kernelshap(g, &a));
    CHECK(a.rank == 1 && a.note[0], "rank %d note '%s'", a.rank, a.note);
    CHECK(fabs(a.efficiency_gap) < 1e-12, "efficiency %g", a.efficiency_gap);
    cs_attribution_free(&a);
    cs_game_free(g);
}

/* ---- permutation sampling --------------------------------------------------------------------- */

typedef struct {
    const cs_game *g;
    size_t calls;
} counting_ctx;

static cs_status counting_utility(void *ctx, uint64_t mask, double *u) {
    counting_ctx *c = ctx;
    c->calls++;
    if (!cs_game_get(c->g, mask, u)) return CS_FAIL(CS_E_NOTFOUND, "not measured");
    return CS_OK;
}

static void test_permutation(void) {
    const int n = 8;
    cs_game *g = random_game(n);
    cs_attribution exact, a1, a4;
    CHECK_OK(cs_shapley_exact(g, &exact));
    for (int anti = 0; anti < 2; anti++) {
        cs_permutation_options o = {.seed = 7, .max_samples = 500, .antithetic = anti};
        CHECK_OK(cs_shapley_permutation(g, &o, &a1));
        o.max_samples = 2000;
        CHECK_OK(cs_shapley_permutation(g, &o, &a4));
        CHECK(a1.n_samples == 500 && a4.n_samples == 2000, "samples %zu %zu", a1.n_samples, a4.n_samples);
        for (int i = 0; i < n; i++) {
            double ratio = a1.std_error[i] / a4.std_error[i];
            CHECK(ratio >= 1.6 && ratio <= 2.5, "antithetic=%d player %d: se ratio for 4x samples %g", anti, i, ratio);
            /* fixed seed: |estimate - exact| < 5 se (a 5-sigma event would be a bug) */
            CHECK(fabs(a4.values[i] - exact.values[i]) < 5.0 * a4.std_error[i], "player %d: %g vs exact %g (se %g)",
                  i, a4.values[i], exact.values[i], a4.std_error[i]);
        }
        /* every permutation's marginals telescope to v(N) - v(0) */
        CHECK(fabs(a4.efficiency_gap) < 1e-12, "permutation efficiency %g", a4.efficiency_gap);
        CHECK(a4.is_estimate && a4.std_error, "permutation is an estimate with standard errors");
        cs_attribution_free(&a1);
        cs_attribution_free(&a4);
    }
    /* convergence criterion: stops before the cap once max se < tol */
    cs_permutation_options o = {.seed = 3, .max_samples = 100000, .tol = 0.02};
    CHECK_OK(cs_shapley_permutation(g, &o, &a1));
    double worst = 0.0;
    for (int i = 0; i < n; i++) worst = fmax(worst, a1.std_error[i]);
    CHECK(a1.converged && worst < 0.02 && a1.n_samples < 100000, "converged %d worst se %g after %zu", a1.converged,
          worst, a1.n_samples);
    printf("permutation: tol 0.02 reached after %zu permutations, %zu evaluations\n", a1.n_samples, a1.n_evals);
    cs_attribution_free(&a1);

    /* callback: each distinct coalition evaluated once; same seed -> same result */
    counting_ctx ctx = {g, 0};
    cs_permutation_options oc = {.seed = 11, .max_samples = 300};
    CHECK_OK(cs_shapley_permutation_fn(n, counting_utility, &ctx, &oc, &a1));
    CHECK(ctx.calls == a1.n_evals && ctx.calls <= 256, "calls %zu evals %zu", ctx.calls, a1.n_evals);
    CHECK_OK(cs_shapley_permutation(g, &oc, &a4));
    CHECK(max_abs_diff(a1.values, a4.values, n) == 0.0, "callback and table runs differ");
    cs_attribution_free(&a1);
    cs_attribution_free(&a4);

    /* a table made from the plan of K permutations serves exactly those K permutations */
    uint64_t *plan = NULL;
    size_t count = 0;
    CHECK_OK(cs_plan_coalitions(n, CS_EST_PERMUTATION, 20, 5, 0, &plan, &count));
    cs_game *part = NULL;
    CHECK_OK(cs_game_create(n, NAMES, &part));
    for (size_t k = 0; k < count; k++) {
        double u;
        cs_game_get(g, plan[k], &u);
        CHECK_OK(cs_game_set(part, plan[k], u));
    }
    cs_permutation_options op = {.seed = 5, .max_samples = 20};
    CHECK_OK(cs_shapley_permutation(part, &op, &a1));
    CHECK(a1.n_samples == 20 && !a1.note[0], "plan-made table: %zu samples, note '%s'", a1.n_samples, a1.note);
    cs_attribution_free(&a1);
    op.max_samples = 1000; /* more than planned: fails, or stops when asked to */
    CHECK(cs_shapley_permutation(part, &op, &a1) == CS_E_USAGE && strstr(cs_last_error(), "not measured"),
          "over-plan: %s", cs_last_error());
    op.stop_on_missing = 1;
    CHECK_OK(cs_shapley_permutation(part, &op, &a1));
    CHECK(a1.n_samples >= 20 && a1.n_samples < 1000 && strstr(a1.note, "stopped"), "stop_on_missing %zu '%s'",
          a1.n_samples, a1.note);
    cs_attribution_free(&a1);
    free(plan);
    cs_game_free(part);
    cs_attribution_free(&exact);
    cs_game_free(g);
}

/* ---- plans ---------------------------------------------------------------------------------- */

static void test_plans(void) {
    uint64_t *m = NULL;
    size_t count = 0;
    CHECK_OK(cs_plan_coalitions(4, CS_EST_EXACT, 0, 0, 0, &m, &count));
    CHECK(count == 16 && m[0] == 0 && m[1] == 1 && m[4] == 8 && m[5] == 3 && m[15] == 15, "exact plan order");
    free(m);
    for (int n = 2; n <= 12; n += 5) {
        CHECK_OK(cs_plan_coalitions(n, CS_EST_KERNELSHAP, 30, 1, 0, &m, &count));
        uint64_t full = ((uint64_t)1 << n) - 1;
        CHECK(m[0] == 0 && m[1] == full, "kernelshap plan starts with baseline and grand");
        uint64_t avail = full - 1;
        CHECK(count - 2 == (avail < 30 ? avail : 30) || count - 2 == 31, "kernelshap plan size %zu", count);
        for (size_t k = 2; k < count; k++) {
            int found = 0;
            for (size_t j = 2; j < count; j++) found |= m[j] == (full & ~m[k]);
            CHECK(found, "complement of a sampled coalition missing");
        }
        uint64_t *m2 = NULL;
        size_t c2 = 0;
        CHECK_OK(cs_plan_coalitions(n, CS_EST_KERNELSHAP, 30, 1, 0, &m2, &c2));
        CHECK(c2 == count && !memcmp(m, m2, count * sizeof *m), "plan not deterministic");
        free(m2);
        free(m);
    }
    /* permutation plans: antithetic pairs are reversed permutations */
    int p0[10], p1[10];
    cs_permutation_sample(10, 99, 4, 1, p0);
    cs_permutation_sample(10, 99, 5, 1, p1);
    for (int i = 0; i < 10; i++) CHECK(p0[i] == p1[9 - i], "antithetic pair");
    CHECK(cs_plan_coalitions(21, CS_EST_EXACT, 0, 0, 0, &m, &count) == CS_E_USAGE, "exact plan n=21");

    /* beyond 20 players: sampled plans; on an additive game (v(S) = sum of w_i) KernelSHAP and
     * permutation sampling must both return w exactly (zero residual, zero variance) */
    const int n = 40;
    const char *names40[40];
    char store[40][16];
    double w[40];
    for (int i = 0; i < n; i++) {
        snprintf(store[i], sizeof store[i], "q%d", i);
        names40[i] = store[i];
        w[i] = 2.0 * urand() - 1.0;
    }
    for (int e = 0; e < 2; e++) {
        cs_estimator est = e ? CS_EST_PERMUTATION : CS_EST_KERNELSHAP;
        CHECK_OK(cs_plan_coalitions(n, est, 150, 2, 0, &m, &count));
        CHECK(e || count == 152 || count == 153, "kernelshap n=40 plan %zu", count);
        cs_game *g = NULL;
        CHECK_OK(cs_game_create(n, names40, &g));
        for (size_t k = 0; k < count; k++) {
            double v = 0.0;
            for (int i = 0; i < n; i++)
                if (m[k] >> i & 1) v += w[i];
            CHECK_OK(cs_game_set(g, m[k], v));
        }
        cs_attribution a;
        cs_permutation_options o = {.seed = 2, .max_samples = 150};
        CHECK_OK(cs_attribute(g, est, &o, &a));
        CHECK(max_abs_diff(a.values, w, n) < 1e-10, "%s n=40 additive: %g", cs_estimator_name(est),
              max_abs_diff(a.values, w, n));
        CHECK(e || a.rank == n - 1, "kernelshap n=40 rank %d", a.rank);
        cs_attribution_free(&a);
        cs_game_free(g);
        free(m);
    }
}

/* ---- paper formula ---------------------------------------------------------------------------- */

static void test_paper(void) {
    /* hand-computed: players a, b; v(0) = 10, v(a) = 13, v(a+b) = 17 (b alone not measured):
     * value_a = 3 + 7/2 = 6.5, value_b = 7/2 = 3.5; efficiency gap 10 - 7 = 3 */
    cs_game *g = NULL;
    CHECK_OK(cs_game_create(2, NAMES, &g));
    CHECK_OK(cs_game_set(g, 0, 10.0));
    CHECK_OK(cs_game_set(g, 1, 13.0));
    CHECK_OK(cs_game_set(g, 3, 17.0));
    cs_attribution a;
    CHECK_OK(cs_paper_dividends(g, &a));
    expect_values("paper 2 players", &a, (double[]){6.5, 3.5}, 2, 1e-12);
    CHECK(fabs(a.efficiency_gap - 3.0) < 1e-12, "paper efficiency gap %g", a.efficiency_gap);
    CHECK(fabs(a.normalized[0] - 0.65) < 1e-12, "paper normalized %g", a.normalized[0]);
    cs_attribution_free(&a);
    cs_game_free(g);
}

/* ---- tables ---------------------------------------------------------------------------------- */

static cs_status parse(const char *text, const char *baseline, cs_coalition_table **t) {
    cs_table_options o = {.baseline = baseline};
    return cs_coalition_table_parse("t.csv", text, strlen(text), &o, t);
}

static void expect_error(const char *text, const char *baseline, int max_players, const char *const *players,
                         int n_players, const char *want) {
    cs_coalition_table *t = NULL;
    cs_table_options o = {.baseline = baseline, .max_players = max_players, .players = players,
                          .n_players = n_players};
    cs_status st = cs_coalition_table_parse("t.csv", text, strlen(text), &o, &t);
    CHECK(st == CS_E_FORMAT && strstr(cs_last_error(), want), "expected '%s', got %s: %s", want,
          cs_status_name(st), cs_last_error());
    cs_coalition_table_free(t);
}

static void test_tables(void) {
    cs_coalition_table *t = NULL;
    /* BOM, CRLF, quotes, spaces, extra columns, any order, (baseline) */
    const char *ok = "\xEF\xBB\xBF" "id, Coalition ,FID,notes\r\n"
                     "1,(baseline),10.5,x\r\n"
                     "2, \"B + A\" , 8.25 ,\"with, comma\"\r\n"
                     "# comment\r\n"
                     "\r\n"
                     "3,A,9,\r\n"
                     "4,B,  1e1\r\n";
    CHECK_OK(parse(ok, NULL, &t));
    if (t) {
        CHECK(t->n_players == 2 && !strcmp(t->players[0], "B") && !strcmp(t->players[1], "A"), "players");
        CHECK(t->n_rows == 4 && t->masks[1] == 3 && t->masks[2] == 2 && t->values[1] == 8.25, "rows");
        CHECK(t->is_fid && t->baseline_row == 0 && t->lines[2] == 6, "fid/baseline/lines %d", t->lines[2]);
        cs_game *g = NULL;
        CHECK_OK(cs_coalition_table_game(t, CS_UTILITY_FID_GAIN, &g));
        double u = 0;
        CHECK(g && cs_game_get(g, 3, &u) && u == 10.5 - 8.25, "fid-gain utility");
        cs_game_free(g);
        CHECK_OK(cs_coalition_table_game(t, CS_UTILITY_NEG_FID, &g));
        CHECK(g && cs_game_get(g, 3, &u) && u == -8.25, "neg-fid utility");
        cs_game_free(g);
        CHECK(cs_coalition_table_game(t, CS_UTILITY_RAW, &g) == CS_E_USAGE, "raw on fid table");
    }
    cs_coalition_table_free(t);
    /* named baseline: dropped inside coalitions */
    CHECK_OK(parse("coalition,utility\nBASE,0\nBASE+Depth,2\nDepth+LoRA,3\n", "BASE", &t));
    if (t) CHECK(t->n_players == 2 && t->masks[1] == 1 && t->masks[2] == 3 && !t->is_fid, "baseline name");
    cs_coalition_table_free(t);
    /* empty field baseline */
    CHECK_OK(parse("coalition,fid\n,5\nA,4\n", NULL, &t));
    cs_coalition_table_free(t);

    static const char *const AB[] = {"A", "B"};
    expect_error("coalition,fid\n,1\nA,2\nC,3\n", NULL, 0, AB, 2, "t.csv:4: unknown player 'C'");
    expect_error("coalition,fid\n,1\nA+B,2\nB+A,3\n", NULL, 0, NULL, 0, "t.csv:4: duplicate coalition 'B+A' (the same set as line 3)");
    expect_error("coalition,fid\n(baseline),1\n,3\n", NULL, 0, NULL, 0, "t.csv:3: duplicate coalition '(baseline)'");
    expect_error("coalition,fid\nA,2\nB,3\n", NULL, 0, NULL, 0, "t.csv: missing baseline row");
    expect_error("coalition,fid\nBASE,2\nB,3\n", NULL, 0, NULL, 0, "missing baseline row");
    expect_error("coalition,fid\n,1\nA,abc\n", NULL, 0, NULL, 0, "t.csv:3: fid value 'abc' is not a finite number");
    expect_error("coalition,fid\n,1\nA,nan\n", NULL, 0, NULL, 0, "t.csv:3: fid value 'nan' is not a finite number");
    expect_error("coalition,fid\n,1\nA,inf\n", NULL, 0, NULL, 0, "is not a finite number");
    expect_error("coalition,fid\n,1\nA,1e999\n", NULL, 0, NULL, 0, "is not a finite number");
    expect_error("coalition,fid\n,1\nA,\n", NULL, 0, NULL, 0, "t.csv:3: fid value '' is not");
    expect_error("", NULL, 0, NULL, 0, "t.csv: empty file");
    expect_error("\xEF\xBB\xBF\r\n# only a comment\n", NULL, 0, NULL, 0, "t.csv: empty file");
    expect_error("name,score\n,1\n", NULL, 0, NULL, 0, "t.csv:1: bad header");
    expect_error("coalition,fid,kid\n,1,1\n", NULL, 0, NULL, 0, "t.csv:1: bad header: two metric columns");
    expect_error("coalition,utility,Utility\n,1,1\n", NULL, 0, NULL, 0, "t.csv:1: bad header: two 'utility'");
    expect_error("coalition,ssim\n,1\nA,x\n", NULL, 0, NULL, 0, "t.csv:3: ssim value 'x' is not a finite number");
    expect_error("coalition,fid\n", NULL, 0, NULL, 0, "no coalition rows");
    expect_error("coalition,fid\n,1\nA++B,2\n", NULL, 0, NULL, 0, "t.csv:3: empty player name");
    expect_error("coalition,fid\n,1\nA+A,2\n", NULL, 0, NULL, 0, "t.csv:3: player 'A' appears twice");
    expect_error("coalition,fid\n,1\n\"A,2\n", NULL, 0, NULL, 0, "t.csv:3: unterminated quoted field");
    expect_error("x,coalition,fid\n,,1\nA\n", NULL, 0, NULL, 0, "t.csv:3: expected at least 3 fields");
    /* too many players: 21 with the exact limit of 20; 64 always */
    {
        char buf[8192];
        size_t len = (size_t)snprintf(buf, sizeof buf, "coalition,fid\n,1\n");
        for (int i = 0; i < 64; i++) len += (size_t)snprintf(buf + len, sizeof buf - len, "P%d,%d\n", i, i);
        expect_error(buf, NULL, 20, NULL, 0, "t.csv:23: too many players: 'P20' would be player 21, at most 20");
        expect_error(buf, NULL, 0, NULL, 0, "t.csv:66: too many players: 'P63' would be player 64, at most 63");
    }
    /* exact on a partial table lists the missing coalitions with '+'-joined names */
    CHECK_OK(parse("coalition,utility\n,0\nA,1\nA+B+C,2\n", NULL, &t));
    if (t) {
        cs_game *g = NULL;
        CHECK_OK(cs_coalition_table_game(t, CS_UTILITY_RAW, &g));
        cs_attribution a;
        cs_status st = cs_shapley_exact(g, &a);
        CHECK(st == CS_E_USAGE && strstr(cs_last_error(), "5 coalitions") && strstr(cs_last_error(), "A+B") &&
                  strstr(cs_last_error(), "B+C"),
              "exact missing: %s", cs_last_error());
        cs_game_free(g);
    }
    cs_coalition_table_free(t);
}

int main(void) {
    test_axioms();
    test_classic();
    test_kernelshap_convergence();
    test_permutation();
    test_plans();
    test_paper();
    test_tables();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all shapley checks passed\n");
    return 0;
}
