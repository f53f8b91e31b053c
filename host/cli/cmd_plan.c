/* copyscope plan: the coalitions a user must generate images for, for one estimator. */
#include "cli.h"

#include "copyscope/shapley.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope plan --players A,B,C [options]\n\n"
            "List the coalitions of pipeline components to generate images for (one per line, names\n"
            "joined by '+' in player order, '(baseline)' for the empty coalition). Measure the FID of\n"
            "each, write them to a CSV with columns 'coalition,fid' and run 'copyscope shapley'.\n\n"
            "Options:\n"
            "  -p, --players LIST  comma-separated player names (required; 1 to 63)\n"
            "  -e, --estimator E   exact (default: all 2^n coalitions, n <= 20), permutation (union of\n"
            "                      the prefixes of K sampled permutations) or kernelshap (baseline + all\n"
            "                      players + K coalitions drawn from the Shapley kernel's size\n"
            "                      distribution, each with its complement)\n"
            "  -k, --budget K      permutations (permutation) or sampled coalitions (kernelshap; may end\n"
            "                      one over K to keep pairs, or fewer when the draws run out) (default 100)\n"
            "  -s, --seed S        random seed (default 0); pass the same seed to 'copyscope shapley'\n"
            "      --antithetic    permutation: pair each permutation with its reverse\n"
            "      --json          print one JSON object on stdout\n"
            "  -h, --help          this help\n\n" CS_HELP_EXIT_CODES);
}

int cs_cmd_plan(int argc, char **argv) {
    const char *cmd = "plan";
    cs_estimator est = CS_EST_EXACT;
    const char *player_list = NULL;
    long budget = 100;
    uint64_t seed = 0;
    int antithetic = 0, json = 0;
    enum { OPT_ANTITHETIC = 256, OPT_JSON };
    static const struct option longopts[] = {
        {"players", required_argument, 0, 'p'}, {"estimator", required_argument, 0, 'e'},
        {"budget", required_argument, 0, 'k'},  {"seed", required_argument, 0, 's'},
        {"antithetic", no_argument, 0, OPT_ANTITHETIC}, {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:e:k:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': player_list = optarg; break;
        case 'e':
            if (!cs_estimator_parse(optarg, &est) ||
                (est != CS_EST_EXACT && est != CS_EST_PERMUTATION && est != CS_EST_KERNELSHAP))
                return cs_cli_usage_error(cmd, "unknown estimator '%s' (exact, permutation or kernelshap)", optarg);
            break;
        case 'k':
            if (!cs_cli_parse_int(cmd, "--budget", optarg, 1, 10000000, &budget)) return CS_EXIT_USAGE;
            break;
        case 's': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 0);
            if (!optarg[0] || *end || errno || optarg[0] == '-')
                return cs_cli_usage_error(cmd, "--seed expects a non-negative integer, got '%s'", optarg);
            seed = (uint64_t)v;
            break;
        }
        case OPT_ANTITHETIC: antithetic = 1; break;
        case OPT_JSON: json = 1; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (optind != argc) return cs_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!player_list) return cs_cli_usage_error(cmd, "--players is required");

    char *copy = strdup(player_list);
    if (!copy) return cs_cli_usage_error(cmd, "out of memory");
    char *names[CS_GAME_MAX_PLAYERS];
    int n = 0, rc = CS_EXIT_OK;
    cs_game *g = NULL;
    uint64_t *masks = NULL;
    size_t count = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ') tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ') tok[--l] = 0;
        if (n == CS_GAME_MAX_PLAYERS) {
            rc = cs_cli_usage_error(cmd, "more than %d players", CS_GAME_MAX_PLAYERS);
            goto done;
        }
        names[n++] = tok;
    }
    if (n == 0) {
        rc = cs_cli_usage_error(cmd, "--players expects comma-separated names");
        goto done;
    }
    cs_status st = cs_game_create(n, (const char *const *)names, &g); /* validates the names */
    if (!st) st = cs_plan_coalitions(n, est, (size_t)budget, seed, antithetic, &masks, &count);
    if (st) {
        rc = cs_cli_fail(cmd, st);
        goto done;
    }
    char buf[16384];
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *players = cJSON_AddArrayToObject(root, "players");
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(players, cJSON_CreateString(names[i]));
        cJSON_AddStringToObject(root, "estimator", cs_estimator_name(est));
        if (est != CS_EST_EXACT) {
            cJSON_AddNumberToObject(root, "budget", (double)budget);
            cJSON_AddNumberToObject(root, "seed", (double)seed);
            if (est == CS_EST_PERMUTATION) cJSON_AddBoolToObject(root, "antithetic", antithetic);
        }
        cJSON_AddNumberToObject(root, "count", (double)count);
        cJSON *list = cJSON_AddArrayToObject(root, "coalitions");
        for (size_t k = 0; k < count; k++)
            cJSON_AddItemToArray(list, cJSON_CreateString(cs_game_coalition_str(g, masks[k], buf, sizeof buf)));
        char *text = cJSON_Print(root);
        cJSON_Delete(root);
        if (!text) {
            fprintf(stderr, "copyscope %s: out of memory writing JSON\n", cmd);
            rc = CS_EXIT_RUNTIME;
            goto done;
        }
        puts(text);
        free(text);
    } else {
        for (size_t k = 0; k < count; k++) puts(cs_game_coalition_str(g, masks[k], buf, sizeof buf));
    }
    if (est == CS_EST_KERNELSHAP && count < (size_t)budget + 2 && n <= 62 &&
        (uint64_t)count < ((uint64_t)1 << n))
        fprintf(stderr, "copyscope %s: note: %zu coalitions sampled of the %ld asked (draws exhausted)\n", cmd,
                count - 2, budget);
done:
    free(masks);
    cs_game_free(g);
    free(copy);
    return rc;
}
