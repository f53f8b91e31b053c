/* Features of images decoded in memory (cs_features_extract_rgb, features.h): the Python
 * package's features(uint8 arrays). The same preprocessing and network as the file pipeline's
 * computed images (cs_model_features_rgb), one batch at a time, cancellation between batches. */
#include "copyscope/cancel.h"
#include "copyscope/features.h"
#include "copyscope/image.h"
#include "copyscope/model.h"
#include "copyscope/protocol.h"
#include "copyscope/weights.h"
#include "core/common.h"

#include <string.h>

cs_status cs_features_extract_rgb(const cs_image *imgs, size_t n, const cs_features_opts *opts, cs_features *out) {
    memset(out, 0, sizeof *out);
    cs_model_kind kind;
    if (!cs_model_kind_parse(opts->model, &kind) || kind != CS_MODEL_INCEPTION)
        return CS_FAIL(CS_E_UNSUPPORTED, "features of in-memory images: the Inception network only (model '%s')",
                       opts->model ? opts->model : "");
    if (!cs_model_dims_valid(opts->dims))
        return CS_FAIL(CS_E_USAGE, "dims must be 64, 192, 768 or 2048 (got %d)", opts->dims);
    if (n == 0) return CS_FAIL(CS_E_USAGE, "no input images");
    if (n > CS_PATHLIST_MAX) return CS_FAIL(CS_E_USAGE, "%zu images in one call (at most %d)", n, CS_PATHLIST_MAX);
    for (size_t i = 0; i < n; i++) {
        const cs_image *im = &imgs[i];
        if (!im->rgb || im->width < 1 || im->height < 1 || im->width > CS_IMAGE_MAX_SIDE ||
            im->height > CS_IMAGE_MAX_SIDE || (uint64_t)im->width * (uint64_t)im->height > CS_IMAGE_MAX_PIXELS)
            return CS_FAIL(CS_E_USAGE, "image %zu: %dx%d pixels (each side 1..%d, at most %llu pixels)", i, im->width,
                           im->height, CS_IMAGE_MAX_SIDE, (unsigned long long)CS_IMAGE_MAX_PIXELS);
    }
    const size_t d = (size_t)opts->dims;
    const size_t B = opts->batch > 0 ? (size_t)opts->batch : 50;
    const double t0 = cs_now();
    char wpath[4096];
    cs_weights *w = NULL;
    cs_model *m = NULL;
    cs_status st = cs_weights_find(opts->weights_path, wpath, sizeof wpath);
    if (st == CS_OK) st = cs_weights_load(wpath, &w);
    if (st == CS_OK) st = cs_model_create_ex(w, opts->device ? opts->device : "auto", opts->precision, opts->threads, &m);
    if (st == CS_OK) {
        snprintf(out->weights_sha256, sizeof out->weights_sha256, "%s", cs_weights_sha256(w));
        out->dims = opts->dims;
        size_t bytes;
        if (!cs_mul_size(n, d * sizeof(float), &bytes))
            st = CS_FAIL(CS_E_NOMEM, "feature matrix of %zu x %zu does not fit in memory", n, d);
        else if (!(out->data = cs_malloc(bytes, "feature matrix"))) /* (n, d) float32 */
            st = CS_E_NOMEM;
    }
    cs_weights_free(w); /* the model keeps its own folded copy */
    float *x = NULL;     /* (B, 3, 299, 299) float32: another protocol's inputs */
    out->protocol = opts->protocol;
    if (st == CS_OK && opts->protocol != CS_PROTOCOL_PYTORCH_FID &&
        !(x = cs_malloc(B * (size_t)3 * 299 * 299 * sizeof(float), "preprocessed batch")))
        st = CS_E_NOMEM;
    for (size_t i = 0; st == CS_OK && i < n; i += B) {
        if (cs_cancel_requested()) {
            st = CS_FAIL(CS_E_INTERRUPTED, "interrupted");
            break;
        }
        const size_t k = n - i < B ? n - i : B;
        if (opts->protocol == CS_PROTOCOL_PYTORCH_FID) {
            st = cs_model_features_rgb(m, imgs + i, (int)k, opts->dims, out->data + i * d);
        } else { /* the protocol's resize on the host (protocol.h), then the network */
            for (size_t j = 0; st == CS_OK && j < k; j++)
                st = cs_preprocess_rgb_protocol((cs_protocol)opts->protocol, imgs[i + j].rgb, imgs[i + j].width,
                                                imgs[i + j].height, x + j * (size_t)3 * 299 * 299);
            if (st == CS_OK) st = cs_model_forward(m, x, (int)k, opts->dims, out->data + i * d);
        }
        if (st == CS_OK) out->n = i + k;
        if (opts->progress) {
            fprintf(stderr, "\rfeatures: %zu/%zu images", out->n, n);
            fflush(stderr);
        }
    }
    if (opts->progress) fprintf(stderr, "\n");
    free(x);
    cs_model_free(m);
    out->n_computed = out->n;
    out->seconds = cs_now() - t0;
    if (st != CS_OK) {
        char keep[1024]; /* the failure's message, not cleanup's */
        snprintf(keep, sizeof keep, "%s", cs_last_error());
        cs_features_free(out);
        cs_error_set(st, __FILE__, __LINE__, "%s", keep);
    }
    return st;
}
