/* CLI internals shared by fid, stats and merge: one function turns an input path into statistics
 * (and feature rows when available), and one option table holds the extraction options. */
#ifndef CS_FID_INPUT_H
#define CS_FID_INPUT_H

#include "copyscope/features.h"
#include "copyscope/stats.h"

#include <getopt.h>

/* Options that matter only when an input is a directory of images (extraction), plus --dims. */
typedef struct cs_fid_cli_opts {
    cs_features_opts feat; /* --weights --batch --device --precision --threads --cache --no-cache --dims */
    int dims_given;        /* --dims was given: inputs must have that dimension */
} cs_fid_cli_opts;

void cs_fid_cli_opts_default(cs_fid_cli_opts *o);

/* getopt_long ids of the shared options (above any command's own ids). */
enum {
    CS_OPT_WEIGHTS = 1000,
    CS_OPT_DIMS,
    CS_OPT_BATCH,
    CS_OPT_DEVICE,
    CS_OPT_THREADS,
    CS_OPT_CACHE,
    CS_OPT_NO_CACHE,
    CS_OPT_NUM_WORKERS,
    CS_OPT_SKIP_BAD,
    CS_OPT_QUIET,
    CS_OPT_PRECISION,
    CS_OPT_PROTOCOL,
    CS_OPT_MODEL
};
#define CS_FID_CLI_LONGOPTS                                                                        \
    {"weights", required_argument, 0, CS_OPT_WEIGHTS}, {"dims", required_argument, 0, CS_OPT_DIMS}, \
        {"batch", required_argument, 0, CS_OPT_BATCH},                                             \
        {"batch-size", required_argument, 0, CS_OPT_BATCH},                                        \
        {"device", required_argument, 0, CS_OPT_DEVICE},                                           \
        {"threads", required_argument, 0, CS_OPT_THREADS},                                         \
        {"num-workers", required_argument, 0, CS_OPT_NUM_WORKERS},                                 \
        {"cache", required_argument, 0, CS_OPT_CACHE}, {"no-cache", no_argument, 0, CS_OPT_NO_CACHE}, \
        {"skip-bad", no_argument, 0, CS_OPT_SKIP_BAD}, {"quiet", no_argument, 0, CS_OPT_QUIET}, \
        {"precision", required_argument, 0, CS_OPT_PRECISION}, {"model", required_argument, 0, CS_OPT_MODEL}, \
        {"protocol", required_argument, 0, CS_OPT_PROTOCOL}
#define CS_FID_CLI_HELP                                                                            \
    "Options for image directories (features extracted as --protocol says):\n"                \
    "      --protocol P    pytorch-fid (default; alias legacy_pytorch), clean-fid (clean) or\n"  \
    "                      torch-fidelity (tensorflow, legacy_tensorflow): whose resize and\n"  \
    "                      input scaling (README, 'FID protocols')\n"                          \
    "      --dims D        feature dimension 64, 192, 768 or 2048 (default 2048); with\n"         \
    "                      statistics or features files, checks that they have D dims\n"         \
    "      --model M       feature space: inception (default), dinov2-vits14, dinov2-vitb14,\n"  \
    "                      dinov2-vitl14 (FD_DINOv2), dinov2-vitg14, clip-vitl14-336 (CPU)\n"  \
    "      --weights FILE  the model's weights (default: $COPYSCOPE_WEIGHTS for Inception, the\n"\
    "                      torch hub cache: dinov2_<arch>_pretrain.pth, ...)\n"                \
    "      --batch N       images per forward pass (default 50; --batch-size is an alias)\n"     \
    "      --device DEV    cpu, cuda, cuda:0,1 or auto (default auto)\n"                         \
    "      --precision P   fp32 (default), or on a GPU tf32 / fp16 (tensor cores; faster, less\n" \
    "                      exact: see README)\n"                                                  \
    "      --threads N     threads (default: all cores; --num-workers is an alias)\n"            \
    "      --cache DIR     feature cache directory; --no-cache to disable it\n"                  \
    "      --skip-bad      skip images that cannot be decoded (listed on stderr)\n"             \
    "      --quiet         no per-directory summary line on stderr\n"

/* Handle one of the shared options: 1 handled, 0 not a shared option, -1 bad value (printed). */
int cs_fid_cli_common_opt(const char *cmd, int c, const char *arg, cs_fid_cli_opts *o);

/* One loaded input: statistics, or feature rows (then the statistics are computed on demand by
 * cs_fid_input_stats, so that the low-rank path never forms a d x d matrix). */
typedef struct cs_fid_input {
    const char *path;
    int64_t n;          /* samples (0 when unknown: pytorch-fid .npz) */
    int d;              /* feature dimension */
    cs_extractor_id id; /* extractor identity ("" when unknown) */
    cs_stats *stats;    /* NULL until needed when rows are held */
    cs_features rows;   /* the feature rows (rows.data != NULL) when kept */
} cs_fid_input;

/* Load PATH (a .npz, HDF5 statistics, HDF5 features file, or a directory of images).
 * want_rows: 0 statistics only; 1 keep the feature rows instead when the input has them and
 * n <= d (so that the low-rank method can be used); 2 keep the rows whenever the input has them. */
cs_status cs_fid_load_input(const char *path, const cs_fid_cli_opts *o, int want_rows, cs_fid_input *in);
/* Inputs that cannot be combined are refused before any feature row is read: statistics (.npz) and
 * HDF5 features files of different dimensions, or not the --dims given. peek (np) gets each input's
 * dimension from its shapes alone (0 for directories and HDF5 statistics, which are small). */
cs_status cs_fid_precheck_dims(int np, char **paths, const cs_fid_cli_opts *o, int *peek);
/* The statistics of an input (computed from its rows on first use). */
cs_status cs_fid_input_stats(cs_fid_input *in, cs_stats **out);
void cs_fid_input_free(cs_fid_input *in);

#endif
