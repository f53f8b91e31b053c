/* copyscope: the published FID protocols (how an image becomes the network's input).
 *
 * Every protocol decodes as PIL's convert('RGB') and runs the same FID Inception-v3 network on the
 * same weights; they differ in the resize to 299x299 and the input scaling:
 *
 *  pytorch-fid     (aliases legacy_pytorch, pytorch_fid; default) uint8 / 255 -> torch bilinear
 *                  F.interpolate(align_corners=False, no antialiasing) -> 2x - 1
 *                  (cs_preprocess_rgb in model.h).
 *  clean-fid       (alias clean) clean-fid 0.1.35's "clean" mode: each channel as a float32 PIL
 *                  image (mode 'F') resized by PIL 9.4's BICUBIC (a = -0.5, support widened by the
 *                  downscale factor: antialiased; float64 coefficients normalised per output pixel,
 *                  horizontal pass first over the rows the vertical pass needs, each pass summed in
 *                  float64 and stored as float32), clipped to [0, 255], not quantised, then
 *                  (x - 128) / 128 in float32 (its TorchScript Inception's normalisation).
 *  torch-fidelity  (aliases tensorflow, legacy_tensorflow, torch_fidelity) torch-fidelity 0.4.0's
 *                  FeatureExtractorInceptionV3 (the TF1 graph's behaviour): uint8 -> float32,
 *                  interpolate_bilinear_2d_like_tensorflow1x(align_corners=False, "slow"):
 *                  s = (float)(in / 299), src = (float)i * s, i0 = (int)src, i1 = min(i0 + 1,
 *                  in - 1), f = src - i0, a + (b - a) f along x then y, each operation rounded to
 *                  float32; then (x - 128) / 128.
 *
 * The protocol's identity string (cs_protocol_preprocess_id) is part of the feature-cache key and
 * of every features/statistics file, so features of different protocols are never mixed. */
#ifndef COPYSCOPE_PROTOCOL_H
#define COPYSCOPE_PROTOCOL_H

#include "copyscope/image.h"
#include "copyscope/status.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_protocol {
    CS_PROTOCOL_PYTORCH_FID = 0, /* the default (a zeroed options struct selects it) */
    CS_PROTOCOL_CLEAN_FID = 1,
    CS_PROTOCOL_TORCH_FIDELITY = 2
} cs_protocol;
#define CS_PROTOCOL_COUNT 3

/* A protocol name or alias (above) -> *out; CS_E_USAGE naming the accepted names otherwise. */
cs_status cs_protocol_parse(const char *name, cs_protocol *out);
/* The canonical name: "pytorch-fid", "clean-fid", "torch-fidelity" (NULL if p is invalid). */
const char *cs_protocol_name(cs_protocol p);
/* How a directory is listed under protocol p: each peer's own rule (cs_image_listing in image.h:
 * pytorch-fid lower-cased extensions at the top level; clean-fid's exact-case recursive glob;
 * torch-fidelity's png/jpg/jpeg at the top level). Every command that expands a directory of
 * images uses the rule of the protocol it extracts features with (README, "FID protocols"). */
cs_image_listing cs_protocol_listing(cs_protocol p);
/* The identity recorded in caches and files (pytorch-fid: CS_PREPROCESS_ID, unchanged). */
const char *cs_protocol_preprocess_id(cs_protocol p);
/* The protocol of an identity string; 0 if it is none of them. */
int cs_protocol_from_preprocess_id(const char *id, cs_protocol *out);

/* Preprocess one image for protocol p: rgb (height, width, 3) uint8 -> out (3, 299, 299)
 * float32, the network's input. CS_E_USAGE on a bad size or protocol, CS_E_NOMEM. */
cs_status cs_preprocess_rgb_protocol(cs_protocol p, const uint8_t *rgb, int width, int height,
                                     float *out);

/* The two resizes on their own, on one (height, width) float32 plane holding 0..255 values,
 * exposed for the exactness tests against the peers' functions. out: (299, 299) float32.
 * tf1: torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x (no scaling);
 * clean: clean-fid's resize_single_channel (PIL 'F' BICUBIC, then clip to [0, 255]). */
cs_status cs_resize_tf1_bilinear_plane(const float *in, int width, int height, float *out);
cs_status cs_resize_pil_bicubic_plane(const float *in, int width, int height, float *out);

#ifdef __cplusplus
}
#endif
#endif
