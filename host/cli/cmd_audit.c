/* copyscope audit: image sets -> FIDs -> attribution (with bootstrap uncertainty) -> report. */
#include "cli.h"
#include "copyscope/model.h"

#include "copyscope/audit.h"
#include "copyscope/protocol.h"
#include "copyscope/shard.h"
#include "mpi_mode.h"
#include "report_pdf.h"

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
            "and a report directory (report.json, values.csv, coalitions.csv,\n"
            "interactions.csv, report.html: thumbnails, nearest-reference pairs, lattice, interactions).\n"
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
            "                       M-raw: M(S)); pixel metrics decode the images and need no network;\n"
            "                       cmmd (= cmmd-gain, CMMD(baseline) - CMMD(S)) or neg-cmmd: google-research's\n"
            "                       CMMD (Gaussian RBF MMD, sigma 10, x 1000) on L2-normalised features;\n"
            "                       nn-sim (mean over the generated images of the cosine similarity of\n"
            "                       their features to the nearest reference image) or copy-rate (share of\n"
            "                       generated images whose nearest-reference similarity exceeds\n"
            "                       --copy-threshold), as gains over the baseline (-raw: the values)\n"
            "      --copy-threshold T  nearest-reference similarity above which a generated image counts\n"
            "                       as a copy (copy-rate, and the report's share per coalition; default 0.9)\n"
            "      --nearest K      nearest-reference pairs per coalition in the reports (default 3, max 16;\n"
            "                       0 with a FID utility skips the pair similarities)\n"
            "      --thumbnails N   thumbnails per image set in report.html (default 8, max 64; 0: none)\n"
            "      --pdf            also report.pdf, printed by headless Chromium (a notice, not an error,\n"
            "                       when no Chromium is installed)\n"
            "      --kid-subsets N  KID: subsets (default 100)\n"
            "      --kid-subset-size M  KID: subset size, capped at both set sizes (default 1000)\n"
            "      --kid-sampler S  KID subsets: copyscope's, or torch-fidelity's (numpy RandomState(2020);\n"
            "                       the default with --protocol torch-fidelity)\n"
            "      --cmmd-no-normalize  CMMD: use the feature rows as given (default: L2-normalised,\n"
            "                       as CMMD's CLIP embeddings are)\n"
            "      --reference P    (directory form) reference images: a directory, or a features/stats file\n"
            "      --generated ROOT (directory form) one subdirectory per coalition\n"
            "      --baseline NAME  (directory form) the baseline pipeline's name\n"
            "      --dims D         feature dimension 64, 192, 768 or 2048 (default 2048)\n"
            "      --protocol P     pytorch-fid (default; legacy_pytorch), clean-fid (clean) or\n"
            "                       torch-fidelity (tensorflow, legacy_tensorflow): the preprocessing\n"
            "      --model M        feature space: inception (default), dinov2-vits14, dinov2-vitb14,\n"
            "                       dinov2-vitl14 (FD_DINOv2), dinov2-vitg14, clip-vitl14-336 (CPU)\n"
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
    OPT_INTERVAL,
    OPT_PROTOCOL,
    OPT_KID_SAMPLER,
    OPT_COPY_THRESHOLD,
    OPT_NEAREST,
    OPT_THUMBNAILS,
    OPT_PDF,
    OPT_CMMD_NO_NORMALIZE,
    OPT_MODEL
};

/* The command line, parsed. */
typedef struct cs_audit_cli {
    const char *out_dir, *reference, *generated, *baseline;
    const char *estimator, *utility;
    const char *shard_spec, *partials, *from_partials;
    int json, quiet, dims_given, boot_given, seed_given, pdf, model_given, protocol_given;
    int kid_sampler;       /* -1: by the protocol (torch-fidelity's with --protocol torch-fidelity) */
    cs_shard shard;        /* count 0: not one shard */
    cs_audit_options o;
} cs_audit_cli;

/* Reads the options into cl. Returns -1 to go on, else the exit code (help, usage error). */
static int cs_audit_parse_args(const char *cmd, int argc, char **argv, cs_audit_cli *cl) {
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
        {"protocol", required_argument, 0, OPT_PROTOCOL},
        {"kid-sampler", required_argument, 0, OPT_KID_SAMPLER},
        {"copy-threshold", required_argument, 0, OPT_COPY_THRESHOLD},
        {"nearest", required_argument, 0, OPT_NEAREST},
        {"thumbnails", required_argument, 0, OPT_THUMBNAILS},
        {"pdf", no_argument, 0, OPT_PDF},
        {"cmmd-no-normalize", no_argument, 0, OPT_CMMD_NO_NORMALIZE},
        {"model", required_argument, 0, OPT_MODEL},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cs_audit_options *o = &cl->o;
    long v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:B:s:e:u:w:d:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': cl->out_dir = optarg; break;
        case OPT_JSON: cl->json = 1; break;
        case 'B':
            if (!cs_cli_parse_int(cmd, "--bootstrap", optarg, 0, CS_AUDIT_MAX_BOOTSTRAP, &v)) return 2;
            o->bootstrap = (int)v;
            cl->boot_given = 1;
            break;
        case 's': {
            char *end = NULL;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (!optarg[0] || *end || errno || optarg[0] == '-')
                return cs_cli_usage_error(cmd, "--seed: expected a non-negative integer, got '%s'", optarg);
            o->seed = (uint64_t)s;
            cl->seed_given = 1;
            break;
        }
        case 'e': cl->estimator = optarg; break;
        case 'u': cl->utility = optarg; break;
        case OPT_REFERENCE: cl->reference = optarg; break;
        case OPT_GENERATED: cl->generated = optarg; break;
        case OPT_BASELINE: cl->baseline = optarg; break;
        case OPT_DIMS:
            if (!cs_cli_parse_int(cmd, "--dims", optarg, 1, 16384, &v)) return 2;
            if (v != 64 && v != 192 && v != 768 && v != 2048 && v != 384 && v != 1024 && v != 1536)
                return cs_cli_usage_error(cmd, "--dims must be 64, 192, 768 or 2048 (a ViT model: its own size)");
            o->features.dims = (int)v;
            cl->dims_given = 1;
            break;
        case OPT_MODEL: {
            cs_model_kind k;
            if (!cs_model_kind_parse(optarg, &k))
                return cs_cli_usage_error(cmd, "--model must be inception, dinov2-vits14, dinov2-vitb14, "
                                          "dinov2-vitl14, dinov2-vitg14 or clip-vitl14-336 (got '%s')", optarg);
            o->features.model = k == CS_MODEL_INCEPTION ? NULL : optarg;
            cl->model_given = 1;
            break;
        }
        case 'w': o->features.weights_path = optarg; break;
        case 'd': o->features.device = optarg; break;
        case OPT_BATCH:
            if (!cs_cli_parse_int(cmd, "--batch", optarg, 1, 100000, &v)) return 2;
            o->features.batch = (int)v;
            break;
        case 'j':
            if (!cs_cli_parse_int(cmd, "--threads", optarg, 0, 4096, &v)) return 2;
            o->features.threads = (int)v;
            o->threads = (int)v;
            break;
        case OPT_NO_CACHE: o->features.use_cache = 0; break;
        case OPT_PROTOCOL: {
            cs_protocol p;
            if (cs_protocol_parse(optarg, &p) != CS_OK) return cs_cli_usage_error(cmd, "--protocol: %s", cs_last_error());
            o->features.protocol = (int)p;
            cl->protocol_given = 1;
            break;
        }
        case OPT_KID_SAMPLER:
            if (strcmp(optarg, "copyscope") == 0) cl->kid_sampler = CS_KID_SAMPLER_COPYSCOPE;
            else if (strcmp(optarg, "torch-fidelity") == 0) cl->kid_sampler = CS_KID_SAMPLER_NUMPY;
            else return cs_cli_usage_error(cmd, "--kid-sampler must be copyscope or torch-fidelity (got '%s')", optarg);
            break;
        case OPT_CACHE_DIR: o->features.cache_dir = optarg; break;
        case OPT_SHARD: cl->shard_spec = optarg; break;
        case OPT_PARTIALS: cl->partials = optarg; break;
        case OPT_FROM_PARTIALS: cl->from_partials = optarg; break;
        case CS_OPT_MPI: break; /* cs_mpi_active() */
        case OPT_KID_N:
            if (!cs_cli_parse_int(cmd, "--kid-subsets", optarg, 1, 1000000, &v)) return 2;
            o->kid.n_subsets = (int)v;
            break;
        case OPT_KID_M:
            if (!cs_cli_parse_int(cmd, "--kid-subset-size", optarg, 2, 1000000, &v)) return 2;
            o->kid.subset_size = v;
            break;
        case 'q': cl->quiet = 1; break;
        case OPT_CMMD_NO_NORMALIZE: o->cmmd.normalize = 0; break;
        case OPT_INTERVAL:
            if (!cs_interval_parse(optarg, &cl->o.interval))
                return cs_cli_usage_error(cmd, "--interval: unknown method '%s' (percentile, basic, debiased, "
                                          "debiased-normal, bc)", optarg);
            break;
        case OPT_COPY_THRESHOLD: {
            char *end = NULL;
            errno = 0;
            double t = strtod(optarg, &end);
            if (!optarg[0] || *end || errno || !isfinite(t))
                return cs_cli_usage_error(cmd, "--copy-threshold: expected a number, got '%s'", optarg);
            o->copy_threshold = t;
            break;
        }
        case OPT_NEAREST:
            if (!cs_cli_parse_int(cmd, "--nearest", optarg, 0, CS_AUDIT_MAX_NEAREST, &v)) return 2;
            o->nearest_k = (int)v;
            break;
        case OPT_THUMBNAILS:
            if (!cs_cli_parse_int(cmd, "--thumbnails", optarg, 0, CS_AUDIT_MAX_THUMBNAILS, &v)) return 2;
            o->thumbnails = (int)v;
            break;
        case OPT_PDF: cl->pdf = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cs_cli_usage_error(cmd, "unknown option");
        }
    }
    return -1;
}

/* The combinations of modes (shard, partials, MPI, directory form) that exclude each other; the
 * shard spec parsed. Returns -1 to go on, else the exit code. */
static int cs_audit_check_modes(const char *cmd, int argc, cs_audit_cli *cl) {
    if (cl->shard_spec && !cl->partials) return cs_cli_usage_error(cmd, "--shard needs --partials DIR");
    if (cl->partials && !cl->shard_spec) return cs_cli_usage_error(cmd, "--partials needs --shard I/N");
    if (cl->shard_spec && cl->from_partials)
        return cs_cli_usage_error(cmd, "--shard and --from-partials exclude each other");
    if (cs_mpi_active() && (cl->shard_spec || cl->from_partials))
        return cs_cli_usage_error(cmd, "--mpi excludes --shard and --from-partials");
    if (cl->shard_spec) {
        cs_status sst = cs_shard_parse(cl->shard_spec, &cl->shard);
        if (sst != CS_OK) return cs_cli_fail(cmd, sst);
    }
    if (cl->reference || cl->generated || cl->baseline) {
        if (!cl->reference || !cl->generated || !cl->baseline)
            return cs_cli_usage_error(cmd, "the directory form needs --reference, --generated and --baseline");
        if (optind != argc)
            return cs_cli_usage_error(cmd, "give either a manifest or --reference/--generated/--baseline, not both");
    } else if (argc - optind != 1) {
        return cs_cli_usage_error(cmd, "expected one manifest (or --reference/--generated/--baseline)");
    }
    return -1;
}

/* The manifest's "options" where the command line gives none; estimator and utility parsed.
 * Returns -1 to go on, else the exit code (m stays the caller's). */
static int cs_audit_apply_manifest_options(const char *cmd, const cs_audit_manifest *m, cs_audit_cli *cl) {
    cs_audit_options *o = &cl->o;
    if (!cl->model_given && m->model) {
        cs_model_kind k = CS_MODEL_INCEPTION;
        (void)cs_model_kind_parse(m->model, &k); /* validated by the manifest reader */
        o->features.model = k == CS_MODEL_INCEPTION ? NULL : m->model;
    }
    if (!cl->dims_given && m->dims) o->features.dims = m->dims;
    else if (!cl->dims_given && o->features.model) { /* a ViT: its feature size */
        cs_model_kind k = CS_MODEL_INCEPTION;
        (void)cs_model_kind_parse(o->features.model, &k);
        o->features.dims = cs_model_kind_dims(k);
    }
    if (!cl->protocol_given && m->has_protocol) o->features.protocol = m->protocol;
    o->kid.sampler = cl->kid_sampler >= 0 ? cl->kid_sampler
                     : o->features.protocol == CS_PROTOCOL_TORCH_FIDELITY ? CS_KID_SAMPLER_NUMPY : CS_KID_SAMPLER_COPYSCOPE;
    if (o->kid.sampler == CS_KID_SAMPLER_NUMPY) o->kid.seed = 2020; /* torch-fidelity's rng_seed */
    if (!cl->boot_given) o->bootstrap = m->bootstrap;
    if (!cl->seed_given && m->has_seed) o->seed = m->seed;
    const char *estimator = cl->estimator ? cl->estimator : m->estimator;
    const char *utility = cl->utility ? cl->utility : m->utility;
    if (estimator) {
        cs_estimator e;
        if (!cs_estimator_parse(estimator, &e))
            return cs_cli_usage_error(cmd, "--estimator: unknown estimator '%s'", estimator);
        o->estimator = (int)e;
    }
    if (utility && (!strcmp(utility, "fid-inf") || !strcmp(utility, "fid-inf-gain"))) {
        o->fid_inf = 1; /* FID-infinity (include/copyscope/bias.h) behind the fid-gain utility */
        utility = "fid-gain";
    }
    if (utility) {
        if (cs_utility_parse(utility, &o->utility) != CS_OK || o->utility.kind == CS_UTILITY_RAW)
            return cs_cli_usage_error(cmd, "--utility: %s", o->utility.kind == CS_UTILITY_RAW && !strcmp(utility, "raw")
                                                                ? "raw needs a table ('copyscope shapley')"
                                                                : cs_last_error());
    }
    return -1;
}

/* --shard: one shard's features into the partials directory, no report. Returns the exit code. */
static int cs_audit_run_shard(const char *cmd, const cs_audit_manifest *m, const cs_audit_cli *cl) {
    size_t rows = 0;
    cs_status st = cs_audit_shard_extract(m, &cl->o.features, cl->shard, cl->partials, &rows);
    if (st == CS_OK && !cl->quiet)
        fprintf(stderr, "copyscope audit: shard %ld of %ld: %zu images -> %s/part-%ld-of-%ld.h5\n",
                cl->shard.index, cl->shard.count, rows, cl->partials, cl->shard.index, cl->shard.count);
    return st == CS_OK ? 0 : cs_cli_fail(cmd, st);
}

/* Rows extracted elsewhere: MPI ranks (rank 0 goes on with all the rows) or --from-partials; then
 * cl->o.precomputed points to pre. Returns -1 to go on, else the exit code (other MPI ranks, errors). */
static int cs_audit_gather_rows(const char *cmd, const cs_audit_manifest *m, cs_audit_cli *cl, cs_features *pre) {
    if (cs_mpi_active()) { /* every rank extracts its slice; rank 0 goes on with all the rows */
        int mrc = cs_mpi_audit_rows(cmd, m, &cl->o, cl->quiet, pre);
        if (mrc >= 0) return mrc;
        if (pre->n) cl->o.precomputed = pre;
    }
    if (cl->from_partials) {
        cs_status st = cs_audit_partials_read(m, cl->from_partials, pre);
        if (st != CS_OK) return cs_cli_fail(cmd, st);
        cl->o.precomputed = pre;
        cl->o.features.dims = pre->dims;
    }
    return -1;
}

/* stdout: report.json, or the primary estimator's table with its intervals. */
static cs_status cs_audit_print_result(const cs_audit *a, const cs_audit_manifest *m, int json) {
    cs_status st = CS_OK;
    if (json) {
        char *txt = NULL;
        st = cs_audit_report_json(a, &txt);
        if (st == CS_OK) fputs(txt, stdout);
        free(txt);
        return st;
    }
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
    return st;
}

/* stderr: the weights warning and the one-line summary. */
static void cs_audit_print_summary(const cs_audit *a, const cs_audit_manifest *m, const char *out_dir) {
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

int cs_cmd_audit(int argc, char **argv) {
    if (cs_mpi_requested(argc, argv)) return cs_mpi_main("audit", cs_cmd_audit, argc, argv);
    const char *cmd = "audit";
    cs_audit_cli cl;
    memset(&cl, 0, sizeof cl);
    cl.out_dir = "copyscope-report";
    cs_audit_options_default(&cl.o);
    cl.kid_sampler = -1;
    int rc = cs_audit_parse_args(cmd, argc, argv, &cl);
    if (rc < 0) rc = cs_audit_check_modes(cmd, argc, &cl);
    if (rc >= 0) return rc;
    cs_audit_manifest *m = NULL;
    const int protocol = cl.protocol_given ? cl.o.features.protocol : -1; /* lists directories too */
    cs_status st = cl.reference || cl.generated || cl.baseline
                       ? cs_audit_manifest_from_dirs_protocol(cl.reference, cl.generated, cl.baseline, protocol, &m)
                       : cs_audit_manifest_read_protocol(argv[optind], protocol, &m);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    if ((rc = cs_audit_apply_manifest_options(cmd, m, &cl)) >= 0) {
        cs_audit_manifest_free(m);
        return rc;
    }
    int tty = cs_cli_stderr_is_tty();
    cl.o.progress = !cl.quiet && tty;
    cl.o.features.progress = cl.o.progress;
    cl.o.features.quiet = cl.quiet;
    if (cl.shard.count) { /* one shard's features, no report */
        rc = cs_audit_run_shard(cmd, m, &cl);
        cs_audit_manifest_free(m);
        return rc;
    }
    cs_features pre;
    memset(&pre, 0, sizeof pre);
    if ((rc = cs_audit_gather_rows(cmd, m, &cl, &pre)) >= 0) {
        cs_features_free(&pre);
        cs_audit_manifest_free(m);
        return rc;
    }
    cs_audit *a = NULL;
    st = cs_audit_run(m, &cl.o, &a);
    cl.o.precomputed = NULL;
    cs_features_free(&pre);
    if (st == CS_OK) st = cs_audit_write_reports(a, cl.out_dir);
    if (st == CS_OK) st = cs_audit_print_result(a, m, cl.json);
    if (st == CS_OK && !cl.quiet) cs_audit_print_summary(a, m, cl.out_dir);
    rc = st == CS_OK ? 0 : cs_cli_fail(cmd, st);
    if (rc == 0 && cl.pdf) rc = cs_report_pdf(cmd, cl.out_dir, cl.quiet);
    cs_audit_free(a);
    cs_audit_manifest_free(m);
    return rc;
}
