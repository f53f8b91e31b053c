/* copyscope: the FID Inception-v3 network (pytorch-fid's fid_inception_v3) and its input
 * preprocessing.
 *
 * A cs_model holds the network's weights on one compute device, with each BatchNorm folded
 * into its convolution at creation (w' = w g / sqrt(v + eps), b' = beta - m g / sqrt(v + eps),
 * computed in double), plus activation buffers sized for the largest batch chunk seen so far.
 * The model does not keep a reference to the cs_weights it was made from (free them after
 * cs_model_create if you like). One model must not be used by two threads at once. On the CPU
 * a batch runs as `threads` parallel one-image forwards (OpenMP) with single-threaded OpenBLAS
 * GEMMs, a single image as one forward with `threads` OpenBLAS threads; OpenBLAS's thread
 * count is process-wide and is set by each forward call. */
#ifndef COPYSCOPE_MODEL_H
#define COPYSCOPE_MODEL_H

#include "copyscope/image.h"
#include "copyscope/status.h"
#include "copyscope/weights.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_MODEL_INPUT_SIZE 299 /* network input is (n, 3, 299, 299) float32 in [-1, 1] */

typedef struct cs_model cs_model;

/* device: "cpu", "cuda" or "auto" (cuda when a GPU is present, else cpu; see cs_model_notice).
 * threads <= 0: all cores. Errors: CS_E_USAGE (bad device name), CS_E_UNSUPPORTED ("cuda"
 * without a CUDA build or GPU), CS_E_MISMATCH (a tensor has an unexpected shape), CS_E_NOMEM. */
cs_status cs_model_create(const cs_weights *w, const char *device, int threads, cs_model **out);
/* The same with a precision: NULL or "fp32" (default; on a GPU without TF32), "tf32" or "fp16"
 * (GPU only: tensor cores; see README for their deviation from fp32). device may also be
 * "cuda:N". Another precision than fp32 on the CPU: CS_E_USAGE. */
cs_status cs_model_create_ex(const cs_weights *w, const char *device, const char *precision,
                             int threads, cs_model **out);
void cs_model_free(cs_model *m); /* NULL is fine */

/* Testing aids (zero in real runs): the CPU backend taking a GPU's route, so that the GPU paths
 * of the pipeline run, and fail visibly, on any machine. They apply when the device is the CPU. */
typedef struct cs_model_testing {
    int cpu_async;      /* the CPU backend gets the asynchronous members of a GPU, its copy queue
                         * emulated lazily (cs_backend_cpu_opts.async_emulation) */
    int cpu_preprocess; /* the pipeline hands the CPU backend decoded pixels, as it does a GPU
                         * (cs_model_preprocesses = 1) */
    int vit_any_depth;  /* a ViT's weights may have fewer blocks than its architecture (the tests'
                         * reduced-depth ViT-L/G copies) */
} cs_model_testing;
/* cs_model_create_ex with testing aids (t: NULL is none). */
cs_status cs_model_create_testing(const cs_weights *w, const char *device, const char *precision,
                                  int threads, const cs_model_testing *t, cs_model **out);

/* x: (n, 3, 299, 299) float32 preprocessed input; out: (n, dims) float32, the global average
 * pool of pytorch-fid's block output for dims (64: block 0, 192: block 1, 768: block 2,
 * 2048: block 3 = pool3). Only the blocks needed for dims run. dims outside {64, 192, 768,
 * 2048} or n < 0: CS_E_USAGE. Any n works: it is processed in chunks; buffers are allocated
 * once per chunk size and reused by later calls. */
cs_status cs_model_forward(cs_model *m, const float *x, int n, int dims, float *out);

/* Preprocess n images (any sizes) as pytorch-fid does and run the network: out (n, dims). On a
 * backend that preprocesses it goes through pipeline slot 0 (below), which must then be free. */
cs_status cs_model_features_rgb(cs_model *m, const cs_image *imgs, int n, int dims, float *out);

/* Host memory for inputs of cs_model_forward: page-locked on a GPU backend (uploads at full bus
 * speed), plain malloc on the CPU. Free with cs_model_host_free on the same model before
 * cs_model_free (NULL is fine). */
cs_status cs_model_host_alloc(cs_model *m, size_t bytes, void **out);
void cs_model_host_free(cs_model *m, void *p);

/* ---- the two-batch pipeline (the feature scheduler's device threads) -------------------------
 * cs_model_submit starts a batch in pipeline slot 0 or 1 and cs_model_collect(m, slot) finishes
 * it: out holds its features once collect returns CS_OK. On a backend with asynchronous
 * transfers (a GPU) a batch of at most the model's chunk size is left in flight: its upload runs
 * on a copy queue while the other slot's batch computes, so that copies overlap compute; x (or
 * rgb) and out must then be memory from cs_model_host_alloc and stay untouched until collect.
 * Elsewhere (the CPU) submit runs the batch to completion and collect only reports. A submit
 * error means nothing is in flight in that slot; a collect error is the batch's asynchronous
 * failure (the device names the op). One thread per model, as for every call. */
cs_status cs_model_submit(cs_model *m, int slot, const float *x, int n, int dims, float *out);

/* One image of a packed batch: (height, width, 3) uint8 at rgb + offset. */
typedef struct cs_rgb_item {
    size_t offset;
    int width, height;
} cs_rgb_item;

/* The same from decoded 8-bit RGB images packed in one buffer of rgb_bytes (items in increasing
 * offset order, not overlapping), preprocessed on the device (see cs_model_preprocesses):
 * features equal to cs_model_submit of their cs_preprocess_rgb. */
cs_status cs_model_submit_rgb(cs_model *m, int slot, const uint8_t *rgb, size_t rgb_bytes,
                              const cs_rgb_item *items, int n, int dims, float *out);
cs_status cs_model_collect(cs_model *m, int slot);
/* 1 if the pipeline should hand this model decoded RGB at its own size (cs_model_submit_rgb) rather than
 * preprocessed floats: the device preprocesses (a GPU; the CPU only with the testing aid
 * cs_model_testing.cpu_preprocess or cpu_async, since there the decode pool's parallel
 * preprocessing is faster). */
int cs_model_preprocesses(const cs_model *m);
/* 1 if the backend has asynchronous transfers (batches stay in flight between submit and collect). */
int cs_model_async(const cs_model *m);

const char *cs_model_device_name(const cs_model *m); /* "CPU (2 threads, OpenBLAS sgemm)", ... */
const char *cs_model_backend_name(const cs_model *m); /* "cpu" or "cuda" */
const char *cs_model_precision(const cs_model *m);    /* "fp32", "tf32" or "fp16" */
/* Non-empty when device "auto" fell back to the CPU (a line suitable for stderr). */
const char *cs_model_notice(const cs_model *m);
/* 1 if dims is one of 64, 192, 768, 2048. */
int cs_model_dims_valid(int dims);

/* ---- preprocessing (pytorch-fid): uint8 / 255 (ToTensor) -> bilinear resize to 299x299
 * (F.interpolate, align_corners=False, no antialiasing; torch's float32 arithmetic) -> 2x - 1.
 * rgb: (height, width, 3) uint8, width, height >= 1. out: (3, 299, 299) float32. */
cs_status cs_preprocess_rgb(const uint8_t *rgb, int width, int height, float *out);
/* Plain per-pixel reference of the same computation (tests compare the two). */
void cs_preprocess_rgb_ref(const uint8_t *rgb, int width, int height, float *out);

/* ---- feature spaces (models) -----------------------------------------------------------------
 * The network behind a cs_model: FID Inception-v3 (the default), a DINOv2 ViT (torch-hub
 * facebookresearch/dinov2, the normed CLS token as dgm-eval's FD_DINOv2 uses it) or OpenAI CLIP
 * ViT-L/14 at 336 px (Hugging Face openai/clip-vit-large-patch14-336, the projected L2-normalised
 * image embedding). cs_model_create* picks the network from the weights (the tensors' names and
 * shapes); Vision Transformers run on the CPU (net/vit.h). */
typedef enum cs_model_kind {
    CS_MODEL_INCEPTION = 0,
    CS_MODEL_DINOV2_VITS14,
    CS_MODEL_DINOV2_VITB14,
    CS_MODEL_DINOV2_VITL14,
    CS_MODEL_DINOV2_VITG14,
    CS_MODEL_CLIP_VITL14_336,
    CS_MODEL_KIND_COUNT
} cs_model_kind;

#define CS_MODEL_DINOV2_INPUT_SIZE 224 /* dgm-eval: Resize((224, 224)) */
#define CS_MODEL_CLIP_INPUT_SIZE 336

/* "inception", "dinov2-vits14", "dinov2-vitb14", "dinov2-vitl14", "dinov2-vitg14",
 * "clip-vitl14-336". parse returns 1 on success (NULL parses as inception). */
int cs_model_kind_parse(const char *name, cs_model_kind *out);
const char *cs_model_kind_name(cs_model_kind k);
/* Feature dimension of a ViT (384, 768, 1024, 1536, 768); Inception: 2048 (its default). */
int cs_model_kind_dims(cs_model_kind k);
/* 1 if dims is a valid feature dimension of the model. */
int cs_model_kind_dims_valid(cs_model_kind k, int dims);
/* Side of the square network input: 299, 224 or 336. */
int cs_model_kind_input_size(cs_model_kind k);
/* Preprocessing identity recorded in features/stats files and cache keys. */
const char *cs_model_kind_preprocess_id(cs_model_kind k);
/* The file name users have for the model's weights (torch hub / Hugging Face). */
const char *cs_model_kind_weights_name(cs_model_kind k);
/* The model's preprocessing of one decoded image: out (3, S, S) float32, S its input size. */
cs_status cs_model_kind_preprocess(cs_model_kind k, const uint8_t *rgb, int width, int height, float *out);
/* Which network a loaded weights file holds (from its tensors; cs_weights loaded with
 * CS_WEIGHTS_ANY_MODEL for the ViTs). A file that is none of them: CS_E_MISMATCH naming it. */
cs_status cs_model_kind_of_weights(const cs_weights *w, cs_model_kind *out);
/* The network of a model. */
cs_model_kind cs_model_get_kind(const cs_model *m);

/* dgm-eval's DINOv2 transform: PIL bicubic resize to 224x224, ToTensor, ImageNet mean/std;
 * out (3, 224, 224) float32. */
cs_status cs_preprocess_rgb_dgm(const uint8_t *rgb, int width, int height, float *out);
/* CLIPImageProcessor: short side to 336 (PIL bicubic), centre crop, 1/255, CLIP mean/std;
 * out (3, 336, 336) float32. */
cs_status cs_preprocess_rgb_clip(const uint8_t *rgb, int width, int height, float *out);

#ifdef __cplusplus
}
#endif
#endif
