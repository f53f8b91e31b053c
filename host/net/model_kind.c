/* Feature spaces: the names, sizes and preprocessing of each network (see copyscope/model.h). */
#include "copyscope/features.h"
#include "copyscope/model.h"

#include "core/common.h"
#include "net/vit.h"

#include <string.h>

static const struct {
    const char *name, *preprocess_id, *weights_name;
} g_kinds[CS_MODEL_KIND_COUNT] = {
    [CS_MODEL_INCEPTION] = {"inception", CS_PREPROCESS_ID, CS_WEIGHTS_OFFICIAL_NAME},
/* the identity names the model too: features of two DINOv2 sizes never mix */
#define DGM(arch) arch " normed CLS; dgm-eval: PIL convert RGB, PIL bicubic 224x224, ToTensor, ImageNet mean/std"
    [CS_MODEL_DINOV2_VITS14] = {"dinov2-vits14", DGM("dinov2-vits14"), "dinov2_vits14_pretrain.pth"},
    [CS_MODEL_DINOV2_VITB14] = {"dinov2-vitb14", DGM("dinov2-vitb14"), "dinov2_vitb14_pretrain.pth"},
    [CS_MODEL_DINOV2_VITL14] = {"dinov2-vitl14", DGM("dinov2-vitl14"), "dinov2_vitl14_pretrain.pth"},
    [CS_MODEL_DINOV2_VITG14] = {"dinov2-vitg14", DGM("dinov2-vitg14"), "dinov2_vitg14_pretrain.pth"},
#undef DGM
    [CS_MODEL_CLIP_VITL14_336] = {"clip-vitl14-336",
                                  "clip-vitl14-336 L2-normalised image embedding; CLIPImageProcessor: PIL convert RGB, PIL bicubic short side 336, center crop 336, "
                                  "CLIP mean/std",
                                  "model.safetensors"},
};

int cs_model_kind_parse(const char *name, cs_model_kind *out) {
    if (!name) {
        *out = CS_MODEL_INCEPTION;
        return 1;
    }
    for (int k = 0; k < CS_MODEL_KIND_COUNT; k++)
        if (!strcmp(name, g_kinds[k].name)) {
            *out = (cs_model_kind)k;
            return 1;
        }
    return 0;
}

const char *cs_model_kind_name(cs_model_kind k) {
    return (unsigned)k < CS_MODEL_KIND_COUNT ? g_kinds[k].name : "unknown";
}

int cs_model_kind_dims(cs_model_kind k) {
    const cs_vit_arch *a = cs_vit_arch_get(k);
    return a ? a->out_dim : 2048;
}

int cs_model_kind_dims_valid(cs_model_kind k, int dims) {
    return k == CS_MODEL_INCEPTION ? cs_model_dims_valid(dims) : dims == cs_model_kind_dims(k);
}

int cs_model_kind_input_size(cs_model_kind k) {
    const cs_vit_arch *a = cs_vit_arch_get(k);
    return a ? a->input : CS_MODEL_INPUT_SIZE;
}

const char *cs_model_kind_preprocess_id(cs_model_kind k) {
    return (unsigned)k < CS_MODEL_KIND_COUNT ? g_kinds[k].preprocess_id : "unknown";
}

const char *cs_model_kind_weights_name(cs_model_kind k) {
    return (unsigned)k < CS_MODEL_KIND_COUNT ? g_kinds[k].weights_name : "unknown";
}

cs_status cs_model_kind_preprocess(cs_model_kind k, const uint8_t *rgb, int width, int height, float *out) {
    switch (k) {
    case CS_MODEL_INCEPTION: return cs_preprocess_rgb(rgb, width, height, out);
    case CS_MODEL_CLIP_VITL14_336: return cs_preprocess_rgb_clip(rgb, width, height, out);
    case CS_MODEL_DINOV2_VITS14:
    case CS_MODEL_DINOV2_VITB14:
    case CS_MODEL_DINOV2_VITL14:
    case CS_MODEL_DINOV2_VITG14: return cs_preprocess_rgb_dgm(rgb, width, height, out);
    default: return CS_FAIL(CS_E_USAGE, "unknown model kind %d", (int)k);
    }
}

cs_status cs_model_kind_of_weights(const cs_weights *w, cs_model_kind *out) {
    cs_tensor_view t;
    if (cs_weights_tensor(w, "Mixed_5b.branch1x1.conv.weight", &t) == CS_OK) {
        *out = CS_MODEL_INCEPTION;
        return CS_OK;
    }
    if (cs_weights_tensor(w, "blocks.0.attn.qkv.weight", &t) == CS_OK && t.ndim == 2) {
        const int64_t d = t.shape[1];
        const cs_model_kind ks[] = {CS_MODEL_DINOV2_VITS14, CS_MODEL_DINOV2_VITB14, CS_MODEL_DINOV2_VITL14,
                                    CS_MODEL_DINOV2_VITG14};
        for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
            if (cs_vit_arch_get(ks[i])->dim == d) {
                cs_error_clear();
                *out = ks[i];
                return CS_OK;
            }
        return CS_FAIL(CS_E_MISMATCH, "%s: a DINOv2-like ViT of width %lld, not one of ViT-S/B/L/G 14",
                       cs_weights_path(w), (long long)d);
    }
    if (cs_weights_tensor(w, "vision_model.embeddings.class_embedding", &t) == CS_OK) {
        cs_error_clear();
        *out = CS_MODEL_CLIP_VITL14_336;
        return CS_OK;
    }
    return CS_FAIL(CS_E_MISMATCH,
                   "%s: neither the FID Inception weights nor a DINOv2 or CLIP ViT-L/14-336 vision model",
                   cs_weights_path(w));
}
