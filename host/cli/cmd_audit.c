/* copyscope audit: image sets -> FIDs -> attribution (with bootstrap uncertainty) -> report. */
#include "cli.h"

#include "copyscope/audit.h"
#include "copyscope/shard.h"
#include "mpi_mode.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope audit MANIFEST.json [options]\n"
            "       copyscope audit --reference DIR --generated ROOT --baseline NAME [options]\n\n"
            "Attribute how much each pipeline component (LoRA, ControlNet, checkpoint swap) moves the\n"
            "generated images toward a reference (e.g. an artwork): Inception features of every image set\n"
            "(feature cache), the FID of every coalition's set against the reference, a utility per\n"
            "coalition, Shapley values (exact when all 2^n coalitions are present, else KernelSHAP) and\n"
            "the paper's, leave-one-out and Banzhaf values where defined, optional bootstrap intervals,\n"
            "and a report directory (report.json, values.csv, coalitions.csv, report.html).\n"
            "The manifest format is described in docs/audit.md. In the directory form each subdirectory\n"
            "of ROOT is one coalition named like 'SDv1-5+Depth+Davinci' ('SDv1-5' alone = the baseline).\n\n"
            "Sign convention: a POSITIVE value means the player moves the images TOWARD the reference.\n\n"
            "Options:\n"
            "  -o, --out DIR        report directory (default ./copyscope-report)\n"
            "      --json           print report.json on stdout (the files are written too)\n"
            "  -B, --bootstrap B    bootstrap replicates (default 0 = none; 1000 is typical)\n"
            "  -s, --seed S         bootstrap seed (default 0); results do not depend on --threads\n"
            "      --interval M     bootstrap interval: debiased (default: the percentile interval\n"
            "                       moved by twice the bootstrap's bias estimate; FID is biased up by\n"
            "                       O(1/n)), percentile, basic, debiased-normal, bc (docs/audit.md)\n"
            "  -e, --estimator E    primary estimator: exact, kernelshap, loo, banzhaf, paper,\n"
            "                       permutation (default: exact with a full table, else kernelshap)\n"
            "  -u, --utility U      fid-gain (default: U(S) = FID(baseline) - FID(S)) or neg-fid (-FID(S));\n"
            "                       fid-inf: the same gain of FID-infinity estimates (Chong & Forsyth:\n"
            "                       subset FIDs extrapolated to infinitely many images; less biased)\n"
            "                       kid (= kid-gain, KID(baseline) - KID(S)) or neg-kid; a pixel\n"
            "                       similarity cosine, hist, dhash, ssim, rgb-ssim or fusion (= M-gain:\n"
            "                       mean over all (generated, reference) image pairs, M(S) - M(baseline);\n"
            "                       M-raw: M(S)); pixel metrics decode the images and need no network\n"
            "      --kid-subsets N  KID: subsets (default 100)\n"
            "      --kid-subset-size M  KID: subset size, capped at both set sizes (default 1000)\n"
            "      --reference P    (directory form) reference images: a directory, or a features/stats file\n"
            "      --generated ROOT (directory form) one subdirectory per coalition\n"
            "      --baseline NAME  (directory form) the baseline pipeline's name\n"
            "      --dims D         feature dimension 64, 192, 768 or 2048 (default 2048)\n"
            "  -w, --weights PATH   Inception weights (default: discovery, see 'copyscope weights')\n"
            "  -d, --device DEV     cpu, cuda, cuda:0,1 or auto (default auto)\n"
            "      --batch N        images per forward pass (default 50)\n"
            "  -j, --threads N      threads (default: all cores)\n"
            "      --no-cache       do not read or write the feature cache\n"
            "      --cache-dir DIR  feature cache directory (--cache is an alias)\n"
            "      --shard I/N      extract only shard I (0-based) of N contiguous slices of all the\n"
            "                       images (sets in manifest order, then the reference) into\n"
            "                       --partials DIR/part-I-of-N.h5, and stop (no report). 'auto' takes\n"
            "                       I and N from the Slurm array task; 'auto/N' takes I = task id\n"
            "      --partials DIR   directory of the shards' part files (with --shard)\n"
            "      --from-partials DIR  run the audit from DIR's part files (all N must be present,\n"
            "                       from one extractor, of this manifest) without extracting\n"
            "      --mpi            MPI mode (mpirun -np K / srun --mpi=pmix): rank r extracts shard r/K\n"
            "                       of the images, rank 0 gathers the rows and writes the report\n"
            "  -q, --quiet          no progress or summary on stderr\n"
            "  -h, --help           this help\n\n"
            "Options in the manifest's \"options\" object apply unless given on the command line.\n\n"
            CS_HELP_EXIT_CODES);
}

enum {
    OPT_JSON = 1000,
    OPT_REFERENCE,
    OPT_GENERATED,
    OPT_BASELINE,
    OPT_DIMS,
    OPT_BATCH,
    OPT_NO_CACHE,
    OPT_CACHE_DIR,
    OPT_SHARD,
    OPT_PARTIALS,
    OPT_FROM_PARTIALS,
    OPT_KID_N,
    OPT_KID_M,
    OPT_INTERVAL
};

int cs_cmd_audit(int argc, char **argv) {
    if (cs_mpi_requested(argc, argv)) return cs_mpi_main("audit", cs_cmd_audit, argc, argv);
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'},        {"json", no_argument, 0, OPT_JSON},
        {"bootstrap", required_argument, 0, 'B'},  {"seed", required_argument, 0, 's'},
        {"estimator", required_argument, 0, 'e'},  {"utility", required_argument, 0, 'u'},
        {"reference", required_argument, 0, OPT_REFERENCE},
        {"generated", required_argument, 0, OPT_GENERATED},
        {"baseline", required_argument, 0, OPT_BASELINE},
        {"dims", required_argument, 0, OPT_DIMS},   {"weights", required_argument, 0, 'w'},
        {"device", required_argument, 0, 'd'},      {"batch", required_argument, 0, OPT_BATCH},
        {"threads", required_argument, 0, 'j'},     {"no-cache", no_argument, 0, OPT_NO_CACHE},
        {"cache-dir", required_argument, 0, OPT_CACHE_DIR},
        {"cache", required_argument, 0, OPT_CACHE_DIR},
        {"shard", required_argument, 0, OPT_SHARD}, {"partials", required_argument, 0, OPT_PARTIALS},
        {"from-partials", required_argument, 0, OPT_FROM_PARTIALS},
        CS_MPI_LONGOPT,
        {"kid-subsets", required_argument, 0, OPT_KID_N},
        {"kid-subset-size", required_argument, 0, OPT_KID_M},
        {"interval", required_argument, 0, OPT_INTERVAL},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "audit";
    const char *out_dir = "copyscope-report", *reference = NULL, *generated = NULL, *baseline = NULL;
    const char *estimator = NULL, *utility = NULL;
    const char *shard_spec = NULL, *partials = NULL, *from_partials = NULL;
    int json = 0, quiet = 0, dims_given = 0, boot_given = 0, seed_given = 0;
    long v;
    cs_audit_options o;
    cs_audit_options_default(&o);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:B:s:e:u:w:d:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case OPT_JSON: json = 1; break;
        case 'B':
            if (!cs_cli_parse_int(cmd, "--bootstrap", optarg, 0, CS_AUDIT_MAX_BOOTSTRAP, &v)) return 2;
            o.bootstrap = (int)v;
            boot_given = 1;
            break;
        case 's': {
            char *end = NULL;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (!optarg[0] || *end || errno || optarg[0] == '-')
                return cs_cli_usage_error(cmd, "--seed: expected a non-negative integer, got '%s'", optarg);
            o.seed = (uint64_t)s;
            seed_given = 1;
            break;
        }
        case 'e': estimator = optarg; break;
        case 'u': utility = optarg; break;
        case OPT_REFERENCE: reference = optarg; break;
        case OPT_GENERATED: generated = optarg; break;
        case OPT_BASELINE: baseline = optarg; break;
        case OPT_DIMS:
            if (!cs_cli_parse_int(cmd, "--dims", optarg, 1, 16384, &v)) return 2;
            if (v != 64 && v != 192 && v != 768 && v != 2048)
                return cs_cli_usage_error(cmd, "--dims must be 64, 192, 768 or 2048");
            o.features.dims = (int)v;
            dims_given = 1;
            break;
        case 'w': o.features.weights_path = optarg; break;
        case 'd': o.features.device = optarg; break;
        case OPT_BATCH:
            if (!cs_cli_parse_int(cmd, "--batch", optarg, 1, 100000, &v)) return 2;
            o.features.batch = (int)v;
            break;
        case 'j':
            if (!cs_cli_parse_int(cmd, "--threads", optarg, 0, 4096, &v)) return 2;
            o.features.threads = (int)v;
            o.threads = (int)v;
            break;
        case OPT_NO_CACHE: o.features.use_cache = 0; break;
        case OPT_CACHE_DIR: o.features.cache_dir = optarg; break;
        case OPT_SHARD: shard_spec = optarg; break;
        case OPT_PARTIALS: partials = optarg; break;
        case OPT_FROM_PARTIALS: from_partials = optarg; break;
        case CS_OPT_MPI: break; /* cs_mpi_active() */
        case OPT_KID_N:
            if (!cs_cli_parse_int(cmd, "--kid-subsets", optarg, 1, 1000000, &v)) return 2;
            o.kid.n_subsets = (int)v;
            break;
        case OPT_KID_M:
            if (!cs_cli_parse_int(cmd, "--kid-subset-size", optarg, 2, 1000000, &v)) return 2;
            o.kid.subset_size = v;
            break;
        case 'q': quiet = 1; break;
        case OPT_INTERVAL:
            if (!cs_interval_parse(optarg, &o.interval))
                return cs_cli_usage_error(cmd, "--interval: unknown method '%s' (percentile, basic, debiased, "
                                          "debiased-normal, bc)", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: return cs_cli_usage_error(cmd, "unknown option");
        }
    }
    if (shard_spec && !partials) return cs_cli_usage_error(cmd, "--shard needs --partials DIR");
    if (partials && !shard_spec) return cs_cli_usage_error(cmd, "--partials needs --shard I/N");
    if (shard_spec && from_partials) return cs_cli_usage_error(cmd, "--shard and --from-partials exclude each other");
    if (cs_mpi_active() && (shard_spec || from_partials))
        return cs_cli_usage_error(cmd, "--mpi excludes --shard and --from-partials");
    cs_shard shard = {0, 0};
    if (shard_spec) {
        cs_status sst = cs_shard_parse(shard_spec, &shard);
        if (sst != CS_OK) return cs_cli_fail(cmd, sst);
    }
    int dir_form = reference || generated || baseline;
    if (dir_form) {
        if (!reference || !generated || !baseline)
            return cs_cli_usage_error(cmd, "the directory form needs --reference, --generated and --baseline");
        if (optind != argc)
            return cs_cli_usage_error(cmd, "give either a manifest or --reference/--generated/--baseline, not both");
    } else if (argc - optind != 1) {
        return cs_cli_usage_error(cmd, "expected one manifest (or --reference/--generated/--baseline)");
    }
    cs_audit_manifest *m = NULL;
    cs_status st = dir_form ? cs_audit_manifest_from_dirs(reference, generated, baseline, &m)
                            : cs_audit_manifest_read(argv[optind], &m);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    /* manifest options, unless overridden */
    if (!dims_given && m->dims) o.features.dims = m->dims;
    if (!boot_given) o.bootstrap = m->bootstrap;
    if (!seed_given && m->has_seed) o.seed = m->seed;
    if (!estimator) estimator = m->estimator;
    if (!utility) utility = m->utility;
    if (estimator) {
        cs_estimator e;
        if (!cs_estimator_parse(estimator, &e)) {
            cs_audit_manifest_free(m);
            return cs_cli_usage_error(cmd, "--estimator: unknown estimator '%s'", estimator);
        }
        o.estimator = (int)e;
    }
    if (utility && (!strcmp(utility, "fid-inf") || !strcmp(utility, "fid-inf-gain"))) {
        o.fid_inf = 1; /* FID-infinity (include/copyscope/bias.h) behind the fid-gain utility */
        utility = "fid-gain";
    }
    if (utility) {
        if (cs_utility_parse(utility, &o.utility) != CS_OK || o.utility.kind == CS_UTILITY_RAW) {
            cs_audit_manifest_free(m);
            return cs_cli_usage_error(cmd, "--utility: %s", o.utility.kind == CS_UTILITY_RAW && !strcmp(utility, "raw")
                                                                ? "raw needs a table ('copyscope shapley')"
                                                                : cs_last_error());
        }
    }
    int tty = cs_cli_stderr_is_tty();
    o.progress = !quiet && tty;
    o.features.progress = o.progress;
    o.features.quiet = quiet;
    if (shard.count) { /* one shard's features, no report */
        size_t rows = 0;
        st = cs_audit_shard_extract(m, &o.features, shard, partials, &rows);
        if (st == CS_OK && !quiet)
            fprintf(stderr, "copyscope audit: shard %ld of %ld: %zu images -> %s/part-%ld-of-%ld.h5\n",
                    shard.index, shard.count, rows, partials, shard.index, shard.count);
        cs_audit_manifest_free(m);
        return st == CS_OK ? 0 : cs_cli_fail(cmd, st);
    }
    cs_features pre;
    memset(&pre, 0, sizeof pre);
    if (cs_mpi_active()) { /* every rank extracts its slice; rank 0 goes on with all the rows */
        int mrc = cs_mpi_audit_rows(cmd, m, &o, quiet, &pre);
        if (mrc >= 0) {
            cs_audit_manifest_free(m);
            return mrc;
        }
        if (pre.n) o.precomputed = &pre;
    }
    if (from_partials) {
        st = cs_audit_partials_read(m, from_partials, &pre);
        if (st != CS_OK) {
            cs_audit_manifest_free(m);
            return cs_cli_fail(cmd, st);
        }
        o.precomputed = &pre;
        o.features.dims = pre.dims;
    }
    cs_audit *a = NULL;
    st = cs_audit_run(m, &o, &a);
    o.precomputed = NULL;
    cs_features_free(&pre);
    if (st == CS_OK) st = cs_audit_write_reports(a, out_dir);
    if (st != CS_OK) {
        int rc = cs_cli_fail(cmd, st);
        cs_audit_free(a);
        cs_audit_manifest_free(m);
        return rc;
    }
    if (json) {
        char *txt = NULL;
        st = cs_audit_report_json(a, &txt);
        if (st == CS_OK) fputs(txt, stdout);
        free(txt);
    } else {
        const cs_audit_estimate *pe = &a->estimates[a->primary];
        printf("%-24s %14s %12s", "player", cs_estimator_name(pe->a.estimator), "normalized");
        if (pe->ci) printf(" %25s %10s", "95% CI", "std.err");
        printf("\n");
        for (int i = 0; i < m->n_players; i++) {
            printf("%-24s %14.4f %12.4f", m->players[i], pe->a.values[i], pe->a.normalized[i]);
            if (pe->ci) printf("   [%10.4f, %10.4f] %10.4f", pe->ci[i].lo, pe->ci[i].hi, pe->ci[i].se);
            printf("\n");
        }
        if (a->n_missing_total)
            printf("(%llu coalitions missing; %s is an estimate)\n", (unsigned long long)a->n_missing_total,
                   cs_estimator_name(pe->a.estimator));
    }
    if (st == CS_OK && !quiet) {
        if (!a->comparable_to_published && !cs_metric_is_pixel(a->metric))
            fprintf(stderr, "copyscope audit: WARNING: features from non-official weights (SHA-256 "
                    "%.16s...): numbers are not comparable to published FIDs\n",
                    a->weights_sha256[0] ? a->weights_sha256 : "unknown");
        if (a->bootstrap) { /* issue 22: say what the intervals mean at this d and n */
            cs_interval_validity iv;
            cs_audit_interval_validity(a, &iv);
            fprintf(stderr, "copyscope audit: %s intervals: %s%s\n", cs_interval_name(a->interval),
                    iv.validated ? "" : "WARNING: ", iv.note);
        }
        fprintf(stderr, "copyscope audit: %zu coalitions, %d players, FID method %s, report in %s/\n",
                a->n_coalitions, m->n_players, a->fid_method, out_dir);
    }
    int rc = st == CS_OK ? 0 : cs_cli_fail(cmd, st);
    cs_audit_free(a);
    cs_audit_manifest_free(m);
    return rc;
}
