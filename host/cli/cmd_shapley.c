/* copyscope shapley: attribution of a coalition table (FIDs or utilities) to its players. */
#include "cli.h"

#include "copyscope/interactions.h"
#include "copyscope/shapley.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CS_MISSING_LIST_MAX 10000 /* --json lists at most this many missing coalitions */

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope shapley TABLE.csv [options]\n\n"
            "Attribute a utility over coalitions of pipeline components (LoRAs, ControlNets, a checkpoint\n"
            "swap) to each component. TABLE.csv has a header with a column 'coalition' and one value\n"
            "column: 'fid' (FID of that coalition's images against the reference), another metric of\n"
            "'copyscope metrics' (kid, cosine, hist, dhash, ssim, rgb-ssim, fusion) or 'utility'; other\n"
            "columns are ignored. A coalition is player names joined by '+' in any order; the baseline (empty\n"
            "coalition) is an empty field, '(baseline)', or the --baseline name alone. Lines starting\n"
            "with '#' are comments. Players are discovered from the table.\n\n"
            "Sign convention: a POSITIVE value means the player pushes the images TOWARD the reference.\n\n"
            "Options:\n"
            "  -e, --estimator E   exact (default; all 2^n coalitions, n <= 20), loo (leave-one-out from\n"
            "                      the grand coalition), banzhaf (full table), kernelshap (weighted least\n"
            "                      squares over the measured coalitions, efficiency exact), permutation\n"
            "                      (sampled permutations, standard errors), paper (the public CopyScope\n"
            "                      code's dividend formula)\n"
            "  -b, --baseline NAME the baseline pipeline's name: 'NAME' alone is the empty coalition and\n"
            "                      'NAME+Depth' means {Depth}\n"
            "  -u, --utility U     for metric tables, the gain of the column's metric by default:\n"
            "                      fid-gain (U(S) = FID(baseline) - FID(S)) or neg-fid (U(S) = -FID(S));\n"
            "                      kid-gain or neg-kid; cmmd-gain or neg-cmmd; for a similarity M: M-gain (= M; U(S) = M(S) -\n"
            "                      M(baseline)) or M-raw (U(S) = M(S)). Values do not depend on the choice.\n"
            "  -p, --players LIST  comma-separated players (fixes their order; unknown names fail)\n"
            "  -s, --seed S        permutation: random seed (default 0; use the plan's seed)\n"
            "  -n, --samples K     permutation: at most K permutations (default 1000)\n"
            "      --tol T         permutation: stop when every standard error is below T (default 0: run\n"
            "                      to the cap)\n"
            "      --antithetic    permutation: pair each permutation with its reverse (as in the plan)\n"
            "      --json          print one JSON object on stdout (with \"interactions\": the pairwise\n"
            "                      Shapley interaction indices when every coalition is measured)\n"
            "  -h, --help          this help\n\n"
            "With a partial table, permutation sampling stops at the first permutation that needs an\n"
            "unmeasured coalition (make the table with 'copyscope plan' and the same --seed).\n\n"
            CS_HELP_EXIT_CODES);
}

/* split "A,B,C" in place into at most max names */
static int split_players(char *list, char **names, int max) {
    int n = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ') tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ') tok[--l] = 0;
        if (n == max) return -1;
        names[n++] = tok;
    }
    return n;
}

static int parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (!text[0] || *end || errno || text[0] == '-') {
        cs_cli_usage_error(cmd, "%s expects a non-negative integer, got '%s'", opt, text);
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

static cJSON *json_number_or_null(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static int print_json(const char *path, const cs_coalition_table *t, const cs_game *g, const char *utility_name,
                      const cs_attribution *a) {
    int n = cs_game_n_players(g);
    char name[1024];
    cJSON *root = cJSON_CreateObject();
    if (!root) return 0;
    cJSON_AddStringToObject(root, "table", path);
    cJSON *players = cJSON_AddArrayToObject(root, "players");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(players, cJSON_CreateString(cs_game_player_name(g, i)));
    cJSON_AddStringToObject(root, "estimator", cs_estimator_name(a->estimator));
    cJSON_AddBoolToObject(root, "is_estimate", a->is_estimate);
    cJSON_AddStringToObject(root, "utility", utility_name);
    cJSON_AddStringToObject(root, "sign", "positive = toward the reference");
    cJSON *values = cJSON_AddObjectToObject(root, "values");
    cJSON *norm = cJSON_AddObjectToObject(root, "normalized");
    cJSON *se = a->std_error ? cJSON_AddObjectToObject(root, "std_error") : NULL;
    for (int i = 0; i < n; i++) {
        const char *p = cs_game_player_name(g, i);
        cJSON_AddItemToObject(values, p, json_number_or_null(a->values[i]));
        cJSON_AddItemToObject(norm, p, json_number_or_null(a->normalized[i]));
        if (se) cJSON_AddItemToObject(se, p, json_number_or_null(a->std_error[i]));
    }
    cJSON_AddItemToObject(root, "efficiency_gap", json_number_or_null(a->efficiency_gap));
    cJSON_AddNumberToObject(root, "n_samples", (double)a->n_samples);
    cJSON_AddNumberToObject(root, "n_evals", (double)a->n_evals);
    if (a->estimator == CS_EST_PERMUTATION) cJSON_AddBoolToObject(root, "converged", a->converged);
    if (a->estimator == CS_EST_KERNELSHAP) cJSON_AddNumberToObject(root, "rank", a->rank);
    cJSON_AddStringToObject(root, "note", a->note);
    /* issue 18: pairwise Shapley interaction indices (Grabisch-Roubens) when every coalition is
     * measured: {"A": {"B": I(A, B), ...}, ...}, the diagonal is the Shapley value; else null */
    double *inter = n <= CS_GAME_MAX_FULL && cs_game_n_missing(g) == 0 ? malloc((size_t)n * n * sizeof(double)) : NULL;
    if (inter && cs_interactions(g, inter) == CS_OK) {
        cJSON *io = cJSON_AddObjectToObject(root, "interactions");
        for (int i = 0; i < n; i++) {
            cJSON *row = cJSON_AddObjectToObject(io, cs_game_player_name(g, i));
            for (int j = 0; j < n; j++)
                cJSON_AddItemToObject(row, cs_game_player_name(g, j), json_number_or_null(inter[(size_t)i * n + j]));
        }
    } else {
        cJSON_AddNullToObject(root, "interactions");
    }
    free(inter);
    cJSON *utils = cJSON_AddObjectToObject(root, "utilities");
    /* the measured values, under the column's name ("fids" for fid tables, as before) */
    char key[24];
    snprintf(key, sizeof key, "%ss", t->column);
    cJSON *fids = t->is_metric ? cJSON_AddObjectToObject(root, key) : NULL;
    for (size_t r = 0; r < t->n_rows; r++) {
        double u = 0.0;
        cs_game_get(g, t->masks[r], &u);
        cs_game_coalition_str(g, t->masks[r], name, sizeof name);
        cJSON_AddItemToObject(utils, name, cJSON_CreateNumber(u));
        if (fids) cJSON_AddItemToObject(fids, name, cJSON_CreateNumber(t->values[r]));
    }
    cJSON *missing = cJSON_AddArrayToObject(root, "missing");
    if (n <= CS_GAME_MAX_FULL) {
        uint64_t *all = NULL;
        size_t count = 0, listed = 0;
        if (cs_plan_coalitions(n, CS_EST_EXACT, 0, 0, 0, &all, &count) == CS_OK) {
            double u;
            for (size_t k = 0; k < count && listed < CS_MISSING_LIST_MAX; k++)
                if (!cs_game_get(g, all[k], &u)) {
                    cJSON_AddItemToArray(missing, cJSON_CreateString(cs_game_coalition_str(g, all[k], name, sizeof name)));
                    listed++;
                }
            free(all);
        }
        cJSON_AddNumberToObject(root, "missing_count", (double)cs_game_n_missing(g));
        cJSON_AddBoolToObject(root, "missing_truncated", listed < cs_game_n_missing(g));
    } else {
        /* too many to list; the count is 2^n - measured */
        cJSON_AddNumberToObject(root, "missing_count", ldexp(1.0, n) - (double)cs_game_n_measured(g));
        cJSON_AddBoolToObject(root, "missing_truncated", 1);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return 0;
    puts(text);
    free(text);
    return 1;
}

static void print_plain(const char *path, const cs_coalition_table *t, const cs_game *g, const char *utility_name,
                        const cs_attribution *a) {
    int n = cs_game_n_players(g);
    printf("table: %s (%d players, %zu coalitions measured", path, n, cs_game_n_measured(g));
    if (n <= 62) printf(" of %llu", (unsigned long long)((uint64_t)1 << n));
    char up[40];
    snprintf(up, sizeof up, "%s", t->column);
    if (t->is_fid) snprintf(up, sizeof up, "FID");
    int gain = strstr(utility_name, "-gain") != NULL;
    if (!t->is_metric) printf(")\nutility: %s (the table's utility column)\n", utility_name);
    else if (gain && t->is_distance) printf(")\nutility: %s (U(S) = %s(baseline) - %s(S))\n", utility_name, up, up);
    else if (gain) printf(")\nutility: %s (U(S) = %s(S) - %s(baseline))\n", utility_name, up, up);
    else printf(")\nutility: %s (U(S) = %s%s(S))\n", utility_name, t->is_distance ? "-" : "", up);
    printf("estimator: %s%s; positive = toward the reference\n\n", cs_estimator_name(a->estimator),
           a->is_estimate ? " (an estimate)" : "");
    size_t w = 6;
    for (int i = 0; i < n; i++)
        if (strlen(cs_game_player_name(g, i)) > w) w = strlen(cs_game_player_name(g, i));
    if (w > 40) w = 40;
    printf("%-*s %16s %11s %-12s%s\n", (int)w, "player", "value", "normalized", "estimator",
           a->std_error ? "  std_error" : "");
    for (int i = 0; i < n; i++) {
        printf("%-*.*s %+16.8g %+11.4f %-12s", (int)w, (int)w, cs_game_player_name(g, i), a->values[i],
               a->normalized[i], cs_estimator_name(a->estimator));
        if (a->std_error) printf("  %.6g", a->std_error[i]);
        printf("\n");
    }
    printf("\nefficiency_gap: ");
    if (isfinite(a->efficiency_gap)) printf("%.6g", a->efficiency_gap);
    else printf("n/a (the grand coalition is not measured)");
    printf("  (sum of values - (U(all players) - U(baseline)))\n");
    if (a->estimator == CS_EST_PERMUTATION)
        printf("permutations: %zu, coalitions evaluated: %zu, converged: %s\n", a->n_samples, a->n_evals,
               a->converged ? "yes" : "no");
    if (a->estimator == CS_EST_KERNELSHAP)
        printf("coalitions used: %zu (+ baseline and grand), rank %d of %d\n", a->n_samples, a->rank, n - 1);
    if (a->note[0]) printf("note: %s\n", a->note);
}

int cs_cmd_shapley(int argc, char **argv) {
    const char *cmd = "shapley";
    cs_estimator est = CS_EST_EXACT;
    const char *baseline = NULL, *utility = NULL;
    char *player_list = NULL;
    int json = 0;
    cs_permutation_options popt = {0};
    enum { OPT_TOL = 256, OPT_ANTITHETIC, OPT_JSON };
    static const struct option longopts[] = {
        {"estimator", required_argument, 0, 'e'}, {"baseline", required_argument, 0, 'b'},
        {"utility", required_argument, 0, 'u'},   {"players", required_argument, 0, 'p'},
        {"seed", required_argument, 0, 's'},      {"samples", required_argument, 0, 'n'},
        {"tol", required_argument, 0, OPT_TOL},   {"antithetic", no_argument, 0, OPT_ANTITHETIC},
        {"json", no_argument, 0, OPT_JSON},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:b:u:p:s:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (!cs_estimator_parse(optarg, &est))
                return cs_cli_usage_error(cmd, "unknown estimator '%s' (exact, loo, banzhaf, kernelshap, "
                                               "permutation, paper)", optarg);
            break;
        case 'b': baseline = optarg; break;
        case 'u': {
            cs_utility_spec probe;
            if (cs_utility_parse(optarg, &probe) != CS_OK) return cs_cli_usage_error(cmd, "%s", cs_last_error());
            utility = optarg;
            break;
        }
        case 'p': player_list = optarg; break;
        case 's':
            if (!parse_u64(cmd, "--seed", optarg, &popt.seed)) return CS_EXIT_USAGE;
            break;
        case 'n':
            if (!cs_cli_parse_int(cmd, "--samples", optarg, 2, 100000000, &v)) return CS_EXIT_USAGE;
            popt.max_samples = (size_t)v;
            break;
        case OPT_TOL:
            if (!cs_cli_parse_double(cmd, "--tol", optarg, &popt.tol)) return CS_EXIT_USAGE;
            if (!(popt.tol >= 0.0) || !isfinite(popt.tol))
                return cs_cli_usage_error(cmd, "--tol expects a finite number >= 0, got '%s'", optarg);
            break;
        case OPT_ANTITHETIC: popt.antithetic = 1; break;
        case OPT_JSON: json = 1; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (optind != argc - 1)
        return cs_cli_usage_error(cmd, optind >= argc ? "expected a table file" : "expected one table file");
    const char *path = argv[optind];

    char *players[CS_GAME_MAX_PLAYERS];
    int n_players = 0;
    char *list_copy = NULL;
    if (player_list) {
        list_copy = strdup(player_list);
        if (!list_copy) return cs_cli_usage_error(cmd, "out of memory");
        n_players = split_players(list_copy, players, CS_GAME_MAX_PLAYERS);
        if (n_players <= 0) {
            free(list_copy);
            return cs_cli_usage_error(cmd, "--players expects 1 to %d comma-separated names", CS_GAME_MAX_PLAYERS);
        }
    }
    cs_table_options topt = {.baseline = baseline,
                             .players = (const char *const *)players,
                             .n_players = n_players,
                             .max_players = (est == CS_EST_EXACT || est == CS_EST_BANZHAF) ? CS_GAME_MAX_FULL
                                                                                          : CS_GAME_MAX_PLAYERS};
    cs_coalition_table *t = NULL;
    cs_game *g = NULL;
    cs_attribution a = {0};
    int rc = CS_EXIT_OK;
    cs_status st = cs_coalition_table_read(path, &topt, &t);
    if (st) {
        rc = cs_cli_fail(cmd, st);
        goto done;
    }
    /* the utility: the --utility name must match the table's value column; default: its gain */
    cs_utility_spec u = {"", t->is_distance, t->is_metric ? CS_UTILITY_GAIN : CS_UTILITY_RAW};
    snprintf(u.metric, sizeof u.metric, "%s", t->is_metric ? t->column : "");
    if (utility) {
        cs_utility_parse(utility, &u); /* validated above */
        if (t->is_metric ? strcmp(u.metric, t->column) != 0 : u.kind != CS_UTILITY_RAW) {
            rc = cs_cli_usage_error(cmd, "%s has a '%s' column; --utility %s needs %s", path, t->column, utility,
                                    u.kind == CS_UTILITY_RAW ? "a 'utility' column" : "a column of that metric");
            goto done;
        }
    }
    char utility_name[32];
    cs_utility_format(&u, utility_name, sizeof utility_name);
    st = cs_coalition_table_game(t, u.kind, &g);
    if (st) {
        rc = cs_cli_fail(cmd, st);
        goto done;
    }
    if (est == CS_EST_PERMUTATION) popt.stop_on_missing = 1;
    st = cs_attribute(g, est, &popt, &a);
    if (st) {
        fprintf(stderr, "copyscope %s: %s: %s\n", cmd, path, cs_last_error());
        if (st == CS_E_USAGE && (est == CS_EST_EXACT || est == CS_EST_BANZHAF))
            fprintf(stderr, "  (for a partial table use --estimator kernelshap, permutation or paper; "
                            "'copyscope plan' lists the coalitions to measure)\n");
        rc = cs_status_exit_code(st);
        goto done;
    }
    if (json) {
        if (!print_json(path, t, g, utility_name, &a)) {
            fprintf(stderr, "copyscope %s: out of memory writing JSON\n", cmd);
            rc = CS_EXIT_RUNTIME;
        }
    } else {
        print_plain(path, t, g, utility_name, &a);
    }
done:
    cs_attribution_free(&a);
    cs_game_free(g);
    cs_coalition_table_free(t);
    free(list_copy);
    return rc;
}
