/* copyscope: attribution of a utility to pipeline components (Shapley values and friends).
 *
 * Model. Players are pipeline components (a LoRA, a ControlNet, a base-checkpoint swap). A
 * coalition is a set of players, stored as a bitmask (bit i = player i); the empty coalition is
 * the baseline pipeline. Each measured coalition S has a utility v(S). The default utility of a
 * FID table is v(S) = FID(baseline) - FID(S), so that for every estimator a POSITIVE value means
 * the player pushes the generated images TOWARD the reference.
 *
 * Ownership. A cs_game owns copies of its player names and its utilities; a cs_attribution owns
 * its arrays; a cs_coalition_table owns everything it points to. Every *_free accepts NULL.
 * Errors: functions return a cs_status and record a one-line message (cs_last_error()). */
#ifndef COPYSCOPE_SHAPLEY_H
#define COPYSCOPE_SHAPLEY_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_GAME_MAX_PLAYERS 63 /* bitmask in a uint64_t, top bit kept free */
#define CS_GAME_MAX_FULL 20    /* estimators that enumerate all 2^n coalitions */
#define CS_PLAYER_NAME_MAX 256 /* bytes, without the terminating NUL */

/* ---- game: players + measured utilities ------------------------------------------------------- */

typedef struct cs_game cs_game;

/* A game with n players (1..CS_GAME_MAX_PLAYERS) and no measured coalition. Names must be
 * non-empty, distinct, at most CS_PLAYER_NAME_MAX bytes and contain no '+', ',' or control
 * character. */
cs_status cs_game_create(int n, const char *const *names, cs_game **out);
void cs_game_free(cs_game *g);

int cs_game_n_players(const cs_game *g);
const char *cs_game_player_name(const cs_game *g, int i);

/* Record v(mask) (replaces an earlier value). The value must be finite. */
cs_status cs_game_set(cs_game *g, uint64_t mask, double utility);
/* 1 and *utility = v(mask) when measured, 0 otherwise (utility untouched). */
int cs_game_get(const cs_game *g, uint64_t mask, double *utility);
/* Number of measured coalitions. */
size_t cs_game_n_measured(const cs_game *g);
/* Number of coalitions missing from the full table (2^n - measured); only for n <= 62. */
uint64_t cs_game_n_missing(const cs_game *g);

/* Coalition as text: names in player order joined by '+', "(baseline)" for the empty one.
 * Truncated (ending in "...") when longer than cap-1; returns buf. */
char *cs_game_coalition_str(const cs_game *g, uint64_t mask, char *buf, size_t cap);

/* ---- estimators ----------------------------------------------------------------------------- */

typedef enum cs_estimator {
    CS_EST_EXACT = 0,   /* Shapley by enumeration, O(n 2^n); full table, n <= 20 */
    CS_EST_LOO,         /* leave-one-out from the grand coalition: v(N) - v(N \ i) */
    CS_EST_BANZHAF,     /* Banzhaf value, full table, n <= 20 */
    CS_EST_KERNELSHAP,  /* constrained weighted least squares with the Shapley kernel */
    CS_EST_PERMUTATION, /* sampled permutations (Monte Carlo), standard error per player */
    CS_EST_PAPER        /* the public CopyScope code's dividend formula (see shapley.c) */
} cs_estimator;

/* "exact", "loo", ... Never NULL. */
const char *cs_estimator_name(cs_estimator e);
/* Parse a name; returns 0 when unknown. */
int cs_estimator_parse(const char *name, cs_estimator *out);

/* Result of one estimator. values[i] follows the sign convention above. */
typedef struct cs_attribution {
    cs_estimator estimator;
    int n;                 /* players */
    double *values;        /* (n,) */
    double *normalized;    /* (n,) values[i] / sum_j |values[j]| (all 0 when the sum is 0) */
    double *std_error;     /* (n,) standard errors (permutation); NULL for the others */
    double efficiency_gap; /* sum(values) - (v(N) - v(empty)); NaN when either is not measured */
    int is_estimate;       /* 1 for kernelshap and permutation */
    size_t n_samples;      /* permutation: permutations used; kernelshap/paper: coalitions used */
    size_t n_evals;        /* distinct utility evaluations */
    int converged;         /* permutation: 1 when max std_error < tol was reached */
    int rank;              /* kernelshap: rank of the reduced system (n-1 = fully determined) */
    char note[256];        /* a remark for the reader ("" if none) */
} cs_attribution;

void cs_attribution_free(cs_attribution *a); /* frees the arrays, keeps the struct */

/* Exact Shapley value. Needs every coalition: CS_E_USAGE naming the missing ones otherwise. */
cs_status cs_shapley_exact(const cs_game *g, cs_attribution *out);
/* Banzhaf value (1/2^(n-1)) sum_{S not containing i} v(S+i) - v(S). Full table. */
cs_status cs_banzhaf(const cs_game *g, cs_attribution *out);
/* Leave-one-out. Needs N and every N \ i. */
cs_status cs_leave_one_out(const cs_game *g, cs_attribution *out);
/* KernelSHAP over the measured coalitions: minimise sum_S k(S) (v(S) - v(0) - sum_{i in S} x_i)^2
 * subject to sum_i x_i = v(N) - v(0), k(S) = (n-1) / (C(n,|S|) |S| (n-|S|)). Needs the empty and
 * grand coalitions. With all 2^n coalitions the solution is the exact Shapley value. When the
 * measured coalitions do not determine the solution, the minimum-norm one is returned and
 * out->rank < n-1. */
cs_status cs_kernelshap(const cs_game *g, cs_attribution *out);
/* The public CopyScope code's formula: treat c(B) = v(B) - v(0) of each measured B as a Harsanyi
 * dividend, value_i = sum over measured B containing i of c(B) / |B|. (With a FID table and the
 * default utility, c(B) = FID(baseline) - FID(B), i.e. minus the code's phi_i.) Needs v(0). */
cs_status cs_paper_dividends(const cs_game *g, cs_attribution *out);

/* Utility callback for sampling estimators. Return CS_OK with *utility set, CS_E_NOTFOUND (and a
 * message) when the coalition cannot be measured, or any other failure status to abort. */
typedef cs_status (*cs_utility_fn)(void *ctx, uint64_t coalition, double *utility);

typedef struct cs_permutation_options {
    uint64_t seed;
    size_t max_samples;  /* cap on permutations (antithetic: rounded down to pairs); 0 = 1000 */
    size_t min_samples;  /* no convergence test before this many; 0 = 16 */
    double tol;          /* stop when max_i std_error_i < tol; <= 0: run to the cap */
    int antithetic;      /* pair each permutation with its reverse; a pair is one sample */
    int stop_on_missing; /* a CS_E_NOTFOUND ends sampling instead of failing (needs >= 2 samples) */
} cs_permutation_options;

/* Permutation sampling. The k-th permutation is a function of (seed, k) only, identical to the
 * ones cs_plan_coalitions lists, so a table made from a plan can be reused. Each distinct
 * coalition is evaluated once (results are cached). */
cs_status cs_shapley_permutation_fn(int n, cs_utility_fn fn, void *ctx,
                                    const cs_permutation_options *opt, cs_attribution *out);
/* Same, over a game's measured coalitions. */
cs_status cs_shapley_permutation(const cs_game *g, const cs_permutation_options *opt,
                                 cs_attribution *out);

/* Run estimator e with default options (permutation: opt may be NULL). */
cs_status cs_attribute(const cs_game *g, cs_estimator e, const cs_permutation_options *opt,
                       cs_attribution *out);

/* The k-th sampled permutation of 0..n-1 for a seed (antithetic: odd k are reversed even ones). */
void cs_permutation_sample(int n, uint64_t seed, uint64_t k, int antithetic, int *perm);

/* ---- plans: which coalitions to generate images for ------------------------------------------ */

/* Coalitions needed by an estimator, in the order to generate them:
 *   exact:       all 2^n (n <= 20), by size then lexicographically;
 *   permutation: union of the prefixes of `budget` sampled permutations, first appearance order;
 *   kernelshap:  empty + grand + `budget` coalitions sampled from the Shapley kernel distribution
 *                over sizes, each with its complement (paired sampling), distinct.
 * *masks is malloc'd (free()); *count gets its length. */
cs_status cs_plan_coalitions(int n, cs_estimator e, size_t budget, uint64_t seed, int antithetic,
                             uint64_t **masks, size_t *count);

/* ---- coalition tables (CSV) ------------------------------------------------------------------- */

/* A CSV with a header naming a column `coalition` and one value column: `fid`, `utility`, or a
 * metric of copyscope/metrics.h (`kid`, `cmmd`, `cosine`, `hist`, `dhash`, `ssim`, `rgb-ssim`, `fusion`)
 * (other columns ignored; case-insensitive; quotes, surrounding whitespace, CRLF and a UTF-8 BOM tolerated; blank
 * lines and lines starting with '#' skipped). A coalition is player names joined by '+', in any
 * order. The empty coalition is an empty field, "(baseline)" or, with opts->baseline, that name
 * alone; the baseline name inside a coalition is dropped ("BASE+Depth" = {Depth}). */
typedef enum cs_utility_kind {
    CS_UTILITY_FID_GAIN = 0, /* v(S) = FID(baseline) - FID(S) */
    CS_UTILITY_NEG_FID,      /* v(S) = -FID(S) */
    CS_UTILITY_RAW,          /* the table's `utility` column */
    /* The same two kinds for any metric m (fid, kid: distances; cosine, hist, dhash, ssim,
     * rgb-ssim, fusion: similarities), with sign = -1 for a distance and +1 for a similarity so
     * that larger = closer to the reference: */
    CS_UTILITY_GAIN = CS_UTILITY_FID_GAIN, /* v(S) = sign (m(S) - m(baseline)); v(baseline) = 0 */
    CS_UTILITY_ABS = CS_UTILITY_NEG_FID    /* v(S) = sign m(S) */
} cs_utility_kind;

/* A utility as named on the command line (`--utility`):
 *   fid-gain | fid        GAIN of fid (the default)        neg-fid   ABS of fid
 *   kid-gain | kid        GAIN of kid                      neg-kid   ABS of kid
 *   cmmd-gain | cmmd      GAIN of cmmd                     neg-cmmd  ABS of cmmd
 *   S | S-gain            GAIN of similarity S             S-raw     ABS of S
 *   raw                   a table's `utility` column as written
 * for S in cosine, hist, dhash, ssim, rgb-ssim, fusion. Shapley, Banzhaf and LOO values do not
 * depend on GAIN vs ABS (they only see differences); the utility column of a report does. */
typedef struct cs_utility_spec {
    char metric[16];      /* "fid", "kid", "ssim", ...; "" for raw */
    int is_distance;      /* 1 for fid, kid and cmmd */
    cs_utility_kind kind; /* CS_UTILITY_GAIN, CS_UTILITY_ABS or CS_UTILITY_RAW */
} cs_utility_spec;

/* CS_E_USAGE with the list of names for anything else. */
cs_status cs_utility_parse(const char *name, cs_utility_spec *out);
/* The canonical name: "fid-gain", "neg-fid", "kid-gain", "neg-kid", "ssim-gain", "ssim-raw",
 * "raw". Returns buf. */
const char *cs_utility_format(const cs_utility_spec *u, char *buf, size_t cap);
/* v from a metric value m and the baseline's mb. */
static inline double cs_utility_value(const cs_utility_spec *u, double m, double mb) {
    double sign = u->is_distance ? -1.0 : 1.0;
    /* + 0.0 turns -0 (the baseline's gain of a distance) into 0 */
    return u->kind == CS_UTILITY_RAW ? m : u->kind == CS_UTILITY_ABS ? sign * m + 0.0 : sign * (m - mb) + 0.0;
}

typedef struct cs_table_options {
    const char *baseline;       /* name of the baseline pipeline, or NULL */
    const char *const *players; /* fixed players (order kept; unknown names fail), or NULL */
    int n_players;
    int max_players; /* 0 = CS_GAME_MAX_PLAYERS */
} cs_table_options;

typedef struct cs_coalition_table {
    int n_players;
    char **players;     /* (n_players,) */
    size_t n_rows;
    uint64_t *masks;    /* (n_rows,) */
    double *values;     /* (n_rows,) the value column as written */
    int *lines;         /* (n_rows,) 1-based line number of each row */
    int is_fid;         /* 1: column `fid` */
    char column[16];    /* the value column: "utility", "fid", "kid", "ssim", ... (lower case) */
    int is_metric;      /* 1: a metric column (every column but `utility`) */
    int is_distance;    /* 1: fid or kid */
    size_t baseline_row;
} cs_coalition_table;

/* Parse a table from a file or from memory (name is used in messages). Failures are CS_E_FORMAT
 * (or CS_E_NOTFOUND / CS_E_IO) with "FILE:LINE: problem". */
cs_status cs_coalition_table_read(const char *path, const cs_table_options *opts,
                                  cs_coalition_table **out);
cs_status cs_coalition_table_parse(const char *name, const char *text, size_t len,
                                   const cs_table_options *opts, cs_coalition_table **out);
void cs_coalition_table_free(cs_coalition_table *t);

/* The game of a table: kind must be CS_UTILITY_RAW for `utility` tables and CS_UTILITY_GAIN or
 * CS_UTILITY_ABS for metric columns (CS_E_USAGE otherwise); see cs_utility_value. */
cs_status cs_coalition_table_game(const cs_coalition_table *t, cs_utility_kind kind, cs_game **out);

#ifdef __cplusplus
}
#endif
#endif
