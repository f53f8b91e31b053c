/* copyscope features: image files -> Inception features in an HDF5 file. */
#include "cli.h"

#include "copyscope/features.h"
#include "copyscope/protocol.h"
#include "copyscope/model.h"
#include "copyscope/shard.h"
#include "mpi_mode.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope features PATH... --out FILE.h5 [options]\n\n"
            "Extract Inception-v3 pool features exactly as pytorch-fid does (RGB, bilinear resize to\n"
            "299 with align_corners=False, scale to [-1,1], FID Inception weights), or as clean-fid or\n"
            "torch-fidelity do (--protocol). PATH is a directory\n"
            "(its *.bmp *.jpg *.jpeg *.pgm *.png *.ppm *.tif *.tiff *.webp files, lowercase\n"
            "extensions, sorted, not recursive: the set pytorch-fid reads) or a file.\n\n"
            "Writes /features (n x d float32), /paths and /sha256 (in row order), /skipped, and the\n"
            "attributes weights_sha256, dims, preprocessing.\n\n"
            "Options:\n"
            "  -o, --out FILE      output HDF5 file (required; written atomically)\n"
            "  -w, --weights FILE  weights file (default: $COPYSCOPE_WEIGHTS, then\n"
            "                      $TORCH_HOME/hub/checkpoints/, then ~/.cache/torch/hub/checkpoints/)\n"
            "  -d, --dims D        feature dimension: 64, 192, 768 or 2048 (default 2048)\n"
            "      --model M       feature space: inception (default), dinov2-vits14, dinov2-vitb14,\n"
            "                      dinov2-vitl14, dinov2-vitg14 (the normed CLS token, dgm-eval's\n"
            "                      transform), clip-vitl14-336 (L2-normalised image embedding); ViTs\n"
            "                      run on the CPU; --weights: the torch hub / Hugging Face file\n"
            "  -b, --batch N       images per forward pass (default 50)\n"
            "  -t, --threads N     threads for decoding and compute (default: all cores)\n"
            "      --device DEV    cpu, cuda, cuda:0,1 or auto (default auto: GPU if present, else cpu)\n"
            "      --precision P   fp32 (default), or on a GPU tf32 / fp16 (tensor cores; see README)\n"
            "      --protocol P    pytorch-fid (default; alias legacy_pytorch), clean-fid (clean) or\n"
            "                      torch-fidelity (tensorflow, legacy_tensorflow): the peer whose\n"
            "                      resize and input scaling to reproduce (README, 'FID protocols')\n"
            "      --skip-bad      skip images that cannot be decoded (listed on stderr and in /skipped)\n"
            "      --cache DIR     feature cache directory (default $XDG_CACHE_HOME/copyscope)\n"
            "      --no-cache      neither read nor write the feature cache\n"
            "      --json          print a JSON summary on stdout\n"
            "      --shard I/N     only shard I (0-based) of N contiguous slices of the expanded, sorted\n"
            "                      file list ('auto': from the Slurm array task); the shards' rows in\n"
            "                      shard order are the unsharded rows; an empty shard writes 0 rows\n"
            "      --mpi           MPI mode (mpirun -np K / srun --mpi=pmix): rank r extracts shard r/K,\n"
            "                      rank 0 gathers the rows and writes FILE.h5\n"
            "  -q, --quiet         no summary line on stderr\n"
            "  -h, --help          this help\n\n" CS_HELP_EXIT_CODES
            "A truncated or corrupt image stops the run with exit 2 and names the file (features\n"
            "computed so far stay in the cache); with --skip-bad the run continues.\n");
}

/* Hidden options, testing aids only (not in --help; docs/gpu.md, "Testing without a GPU"): they
 * set cs_features_opts.testing, so that tests drive the multi-device and GPU routes of the
 * pipeline through the CLI on a machine without a GPU. */
enum {
    OPT_TESTING_CPU_DEVICES = 512, /* --testing-cpu-devices N: N CPU backends stand in for --device */
    OPT_TESTING_FAIL_BATCH,        /* --testing-fail-batch K: the device that runs batch K fails */
    OPT_TESTING_RGB_BATCH_BYTES,   /* --testing-rgb-batch-bytes B: pixel budget of a packed batch */
    OPT_TESTING_CPU_ASYNC,         /* --testing-cpu-async: CPU backends emulate a GPU's copy queue */
    OPT_TESTING_CPU_PREPROCESS     /* --testing-cpu-preprocess: CPU backends take decoded pixels */
};

/* One hidden testing option into t; 0 (after a usage message) on a bad value. */
static int parse_testing_option(const char *cmd, int c, const char *arg, cs_features_testing *t) {
    long v;
    switch (c) {
    case OPT_TESTING_CPU_DEVICES:
        if (!cs_cli_parse_int(cmd, "--testing-cpu-devices", arg, 1, 64, &v)) return 0;
        t->cpu_devices = (int)v;
        return 1;
    case OPT_TESTING_FAIL_BATCH:
        if (!cs_cli_parse_int(cmd, "--testing-fail-batch", arg, 0, LONG_MAX, &v)) return 0;
        t->fail = 1;
        t->fail_batch = (size_t)v;
        return 1;
    case OPT_TESTING_RGB_BATCH_BYTES:
        if (!cs_cli_parse_int(cmd, "--testing-rgb-batch-bytes", arg, 1, 256L << 20, &v)) return 0;
        t->rgb_batch_bytes = (size_t)v;
        return 1;
    case OPT_TESTING_CPU_ASYNC: t->cpu_async = 1; return 1;
    case OPT_TESTING_CPU_PREPROCESS: t->cpu_preprocess = 1; return 1;
    }
    return 0;
}

int cs_cmd_features(int argc, char **argv) {
    if (cs_mpi_requested(argc, argv)) return cs_mpi_main("features", cs_cmd_features, argc, argv);
    const char *cmd = "features";
    cs_features_opts o;
    cs_features_opts_default(&o);
    const char *out_path = NULL;
    int json = 0;
    enum { OPT_DEVICE = 256, OPT_SKIP_BAD, OPT_CACHE, OPT_NO_CACHE, OPT_JSON, OPT_SHARD, OPT_PRECISION, OPT_MODEL,
           OPT_TESTING_VIT_ANY_DEPTH, OPT_PROTOCOL };
    int dims_given = 0;
    const char *shard_spec = NULL;
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'},       {"weights", required_argument, 0, 'w'},
        {"dims", required_argument, 0, 'd'},      {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},   {"device", required_argument, 0, OPT_DEVICE},
        {"skip-bad", no_argument, 0, OPT_SKIP_BAD}, {"cache", required_argument, 0, OPT_CACHE},
        {"no-cache", no_argument, 0, OPT_NO_CACHE}, {"json", no_argument, 0, OPT_JSON},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {"shard", required_argument, 0, OPT_SHARD}, CS_MPI_LONGOPT,
        {"precision", required_argument, 0, OPT_PRECISION},
        {"protocol", required_argument, 0, OPT_PROTOCOL},
        {"model", required_argument, 0, OPT_MODEL},
        {"testing-vit-any-depth", no_argument, 0, OPT_TESTING_VIT_ANY_DEPTH},
        {"testing-cpu-devices", required_argument, 0, OPT_TESTING_CPU_DEVICES},
        {"testing-fail-batch", required_argument, 0, OPT_TESTING_FAIL_BATCH},
        {"testing-rgb-batch-bytes", required_argument, 0, OPT_TESTING_RGB_BATCH_BYTES},
        {"testing-cpu-async", no_argument, 0, OPT_TESTING_CPU_ASYNC},
        {"testing-cpu-preprocess", no_argument, 0, OPT_TESTING_CPU_PREPROCESS},
        {0, 0, 0, 0}};
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:w:d:b:t:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'w': o.weights_path = optarg; break;
        case 'd':
            if (!cs_cli_parse_int(cmd, "--dims", optarg, 1, 1 << 20, &v)) return CS_EXIT_USAGE;
            o.dims = (int)v;
            dims_given = 1;
            break;
        case OPT_MODEL: {
            cs_model_kind k;
            if (!cs_model_kind_parse(optarg, &k))
                return cs_cli_usage_error(cmd, "--model must be inception, dinov2-vits14, dinov2-vitb14, "
                                          "dinov2-vitl14, dinov2-vitg14 or clip-vitl14-336 (got '%s')", optarg);
            o.model = k == CS_MODEL_INCEPTION ? NULL : optarg;
            if (!dims_given) o.dims = cs_model_kind_dims(k);
            break;
        }
        case OPT_TESTING_VIT_ANY_DEPTH: o.testing.vit_any_depth = 1; break;
        case 'b':
            if (!cs_cli_parse_int(cmd, "--batch", optarg, 1, 4096, &v)) return CS_EXIT_USAGE;
            o.batch = (int)v;
            break;
        case 't':
            if (!cs_cli_parse_int(cmd, "--threads", optarg, 0, 1024, &v)) return CS_EXIT_USAGE;
            o.threads = (int)v;
            break;
        case OPT_DEVICE: o.device = optarg; break;
        case OPT_PRECISION:
            if (strcmp(optarg, "fp32") != 0 && strcmp(optarg, "tf32") != 0 && strcmp(optarg, "fp16") != 0)
                return cs_cli_usage_error(cmd, "--precision must be fp32, tf32 or fp16 (got '%s')", optarg);
            o.precision = optarg;
            break;
        case OPT_PROTOCOL: {
            cs_protocol p;
            if (cs_protocol_parse(optarg, &p) != CS_OK) return cs_cli_usage_error(cmd, "--protocol: %s", cs_last_error());
            o.protocol = (int)p;
            break;
        }
        case OPT_SKIP_BAD: o.skip_bad = 1; break;
        case OPT_CACHE: o.cache_dir = optarg; break;
        case OPT_NO_CACHE: o.use_cache = 0; break;
        case OPT_JSON: json = 1; break;
        case OPT_SHARD: shard_spec = optarg; break;
        case CS_OPT_MPI: break; /* cs_mpi_active() */
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        case OPT_TESTING_CPU_DEVICES:
        case OPT_TESTING_FAIL_BATCH:
        case OPT_TESTING_RGB_BATCH_BYTES:
        case OPT_TESTING_CPU_ASYNC:
        case OPT_TESTING_CPU_PREPROCESS:
            if (!parse_testing_option(cmd, c, optarg, &o.testing)) return CS_EXIT_USAGE;
            break;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (optind >= argc) return cs_cli_usage_error(cmd, "no input PATH given");
    if (!out_path) return cs_cli_usage_error(cmd, "--out FILE.h5 is required");
    if (cs_mpi_active() && shard_spec) return cs_cli_usage_error(cmd, "--mpi and --shard exclude each other");
    o.progress = cs_cli_stderr_is_tty() && !o.quiet;

    cs_pathlist files;
    cs_status st = cs_pathlist_expand_listing((const char *const *)argv + optind, (size_t)(argc - optind),
                                              cs_protocol_listing((cs_protocol)o.protocol), &files);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    if (shard_spec) {
        cs_shard sh;
        cs_pathlist mine;
        st = cs_shard_parse(shard_spec, &sh);
        if (st == CS_OK) st = cs_pathlist_shard(&files, sh, &mine);
        cs_pathlist_free(&files);
        if (st != CS_OK) return cs_cli_fail(cmd, st);
        files = mine;
    }
    cs_features f;
    if (cs_mpi_active()) { /* every rank extracts its slice; rank 0 goes on with all the rows */
        int mrc = cs_mpi_features(cmd, &files, &o, o.quiet, &f);
        if (mrc >= 0) {
            cs_pathlist_free(&files);
            return mrc;
        }
        st = CS_OK;
    } else if (files.n == 0) /* an empty shard */
        cs_features_init_empty(&f, o.dims), f.protocol = o.protocol, st = CS_OK;
    if (files.n == 0 && !cs_mpi_active()) {
        cs_model_kind k = CS_MODEL_INCEPTION;
        (void)cs_model_kind_parse(o.model, &k);
        f.model = (int)k;
    }
    else
        st = cs_features_extract(&files, &o, &f);
    cs_pathlist_free(&files);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    for (size_t i = 0; i < f.skipped.n; i++) fprintf(stderr, "copyscope features: skipped %s\n", f.skipped_why[i]);
    st = cs_features_write_h5(&f, out_path);
    if (st != CS_OK) {
        cs_features_free(&f);
        return cs_cli_fail(cmd, st);
    }
    if (!o.quiet)
        fprintf(stderr, "features: %zu images (%zu from cache, %zu computed), %zu skipped, dims %d, protocol %s, %.2f s -> %s\n",
                f.n, f.n_from_cache, f.n_computed, f.skipped.n, f.dims, cs_protocol_name((cs_protocol)f.protocol),
                f.seconds, out_path);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "out", out_path);
        cJSON_AddNumberToObject(j, "n", (double)f.n);
        cJSON_AddNumberToObject(j, "dims", f.dims);
        cJSON_AddStringToObject(j, "model", cs_model_kind_name((cs_model_kind)f.model));
        if (f.model == CS_MODEL_INCEPTION) cJSON_AddStringToObject(j, "protocol", cs_protocol_name((cs_protocol)f.protocol));
        cJSON_AddNumberToObject(j, "from_cache", (double)f.n_from_cache);
        cJSON_AddNumberToObject(j, "computed", (double)f.n_computed);
        cJSON_AddNumberToObject(j, "device_preprocessed", (double)f.n_device_preprocessed);
        cJSON_AddStringToObject(j, "weights_sha256", f.weights_sha256);
        cJSON_AddNumberToObject(j, "seconds", f.seconds);
        cJSON *sk = cJSON_AddArrayToObject(j, "skipped");
        for (size_t i = 0; i < f.skipped.n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "path", f.skipped.paths[i]);
            cJSON_AddStringToObject(e, "error", f.skipped_why[i]);
            cJSON_AddItemToArray(sk, e);
        }
        char *s = cJSON_Print(j);
        if (s) puts(s);
        free(s);
        cJSON_Delete(j);
    }
    cs_features_free(&f);
    return CS_EXIT_OK;
}
