/* copyscope weights: inspect and verify an FID Inception weights file. */
#include "cli.h"
#include "copyscope/model.h"

#include "copyscope/weights.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope weights [options] [FILE]\n\n"
            "Load and verify FID Inception weights (pytorch-fid's " CS_WEIGHTS_OFFICIAL_NAME ",\n"
            "torch legacy or zip format): every one of the %d expected tensors, its shape and dtype,\n"
            "and that the file is complete. Prints the format, tensor and parameter counts and the\n"
            "SHA-256, and whether the file is the official one. The file is never executed: only the\n"
            "pickle opcodes and globals a state dict needs are interpreted.\n\n"
            "Without FILE the weights are searched for in: $COPYSCOPE_WEIGHTS, then\n"
            "$TORCH_HOME/hub/checkpoints/, $XDG_CACHE_HOME/torch/hub/checkpoints/ and\n"
            "~/.cache/torch/hub/checkpoints/ (where pytorch-fid keeps them). Official download:\n"
            "  " CS_WEIGHTS_OFFICIAL_URL "\n\n"
            "Options:\n"
            "      --list   first list every tensor (name, dtype, shape) as the file's header says,\n"
            "               even when the data is incomplete\n"
            "      --json   print one JSON object on stdout (also on failure: \"ok\": false)\n"
            "      --model M  check the weights of another feature space instead: dinov2-vits14,\n"
            "               dinov2-vitb14, dinov2-vitl14, dinov2-vitg14 (torch hub .pth) or\n"
            "               clip-vitl14-336 (Hugging Face model.safetensors): every tensor and shape\n"
            "  -h, --help   this help\n\n" CS_HELP_EXIT_CODES,
            CS_WEIGHTS_TENSOR_COUNT);
}

static void print_shape(const cs_tensor_view *v) {
    printf("(");
    for (int d = 0; d < v->ndim; d++) printf("%s%" PRId64, d ? ", " : "", v->shape[d]);
    printf(")");
}

static int list_header(const char *cmd, const char *path, int json, cJSON *root) {
    cs_weights *w = NULL;
    cs_status st = cs_weights_load_ex(path, CS_WEIGHTS_HEADER_ONLY, &w);
    if (st != CS_OK) return -(int)st;
    cJSON *arr = json ? cJSON_AddArrayToObject(root, "tensors_in_header") : NULL;
    for (size_t i = 0; i < cs_weights_tensor_count(w); i++) {
        cs_tensor_view v;
        if (cs_weights_tensor_at(w, i, &v) != CS_OK) break;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", v.name);
            cJSON_AddStringToObject(o, "dtype", v.is_int64 ? "int64" : "float32");
            cJSON *sh = cJSON_AddArrayToObject(o, "shape");
            for (int d = 0; d < v.ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)v.shape[d]));
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%s\t%s\t", v.name, v.is_int64 ? "int64" : "float32");
            print_shape(&v);
            printf("\n");
        }
    }
    (void)cmd;
    cs_weights_free(w);
    return 0;
}

int cs_cmd_weights(int argc, char **argv) {
    const char *cmd = "weights";
    int json = 0, list = 0;
    enum { OPT_JSON = 256, OPT_LIST, OPT_MODEL };
    cs_model_kind kind = CS_MODEL_INCEPTION;
    static const struct option longopts[] = {{"json", no_argument, 0, OPT_JSON},
                                             {"list", no_argument, 0, OPT_LIST},
                                             {"model", required_argument, 0, OPT_MODEL},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_LIST: list = 1; break;
        case OPT_MODEL:
            if (!cs_model_kind_parse(optarg, &kind))
                return cs_cli_usage_error(cmd, "--model must be inception, dinov2-vits14, dinov2-vitb14, "
                                          "dinov2-vitl14, dinov2-vitg14 or clip-vitl14-336 (got '%s')", optarg);
            break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (argc - optind > 1) return cs_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *file = optind < argc ? argv[optind] : NULL;

    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cs_weights *w = NULL;
    char path[4096];
    cs_status st = kind == CS_MODEL_INCEPTION
                       ? cs_weights_find(file, path, sizeof path)
                       : cs_weights_find_named(file, cs_model_kind_weights_name(kind), cs_model_kind_name(kind), path,
                                               sizeof path);
    if (st == CS_OK && list) {
        int r = list_header(cmd, path, json, root);
        if (r < 0) st = (cs_status)(-r);
    }
    if (st == CS_OK && kind == CS_MODEL_INCEPTION) st = cs_weights_load(path, &w);
    else if (st == CS_OK) { /* a ViT: its layout is checked by building the model once (CPU) */
        cs_model_kind got;
        cs_model *m = NULL;
        st = cs_weights_load_ex(path, CS_WEIGHTS_ANY_MODEL, &w);
        if (st == CS_OK) st = cs_model_kind_of_weights(w, &got);
        if (st == CS_OK && got != kind)
            st = CS_FAIL(CS_E_MISMATCH, "%s: weights of %s, not of --model %s", path, cs_model_kind_name(got),
                         cs_model_kind_name(kind));
        if (st == CS_OK) st = cs_model_create(w, "cpu", 1, &m);
        cs_model_free(m);
        if (st != CS_OK) {
            cs_weights_free(w);
            w = NULL;
        }
    }
    int rc;
    if (st != CS_OK) {
        rc = cs_cli_fail(cmd, st);
        if (json) {
            cJSON_AddBoolToObject(root, "ok", 0);
            cJSON_AddStringToObject(root, "status", cs_status_name(st));
            cJSON_AddStringToObject(root, "error", cs_last_error());
        }
    } else {
        rc = CS_EXIT_OK;
        int official = cs_weights_is_official(w);
        if (json) {
            cJSON_AddBoolToObject(root, "ok", 1);
            cJSON_AddStringToObject(root, "path", cs_weights_path(w));
            cJSON_AddStringToObject(root, "format", cs_weights_describe_format(w));
            cJSON_AddNumberToObject(root, "long_size", cs_weights_long_size(w));
            cJSON_AddNumberToObject(root, "file_size", (double)cs_weights_file_size(w));
            cJSON_AddNumberToObject(root, "tensors", (double)cs_weights_tensor_count(w));
            cJSON_AddNumberToObject(root, "parameters", (double)cs_weights_param_count(w));
            cJSON_AddStringToObject(root, "sha256", cs_weights_sha256(w));
            cJSON_AddBoolToObject(root, "official", official);
            cJSON_AddStringToObject(root, "model", cs_model_kind_name(kind));
        } else {
            printf("file:       %s\n", cs_weights_path(w));
            printf("format:     %s\n", cs_weights_describe_format(w));
            printf("size:       %" PRIu64 " bytes\n", cs_weights_file_size(w));
            printf("tensors:    %zu\n", cs_weights_tensor_count(w));
            printf("parameters: %" PRIu64 " float32\n", cs_weights_param_count(w));
            printf("sha256:     %s\n", cs_weights_sha256(w));
            printf("model:      %s\n", cs_model_kind_name(kind));
            if (kind == CS_MODEL_INCEPTION)
                printf("official:   %s\n",
                       official ? "yes (SHA-256 of " CS_WEIGHTS_OFFICIAL_NAME ")"
                                : "no (valid FID Inception layout, but not the official file's bytes: FIDs "
                                  "will not match published numbers)");
        }
    }
    if (json) {
        char *s = cJSON_Print(root);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(root);
    }
    cs_weights_free(w);
    return rc;
}
