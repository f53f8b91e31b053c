/* The FID Inception-v3 architecture (pytorch-fid's fid_inception_v3) as data.
 *
 * This table is the single description of the network's 94 convolutions, in forward
 * order. The weights loader derives the 566 expected tensor names and shapes of the
 * official file from it, and the forward pass (host/net/inception.c) takes each layer's
 * geometry from it. Each BasicConv2d = conv (no bias) + BatchNorm(eps 1e-3) + ReLU. */
#ifndef CS_INCEPTION_ARCH_H
#define CS_INCEPTION_ARCH_H

#include <stddef.h>

#define CS_INCEPTION_NUM_CONVS 94
#define CS_INCEPTION_BN_EPS 1e-3
#define CS_INCEPTION_INPUT_SIZE 299
#define CS_INCEPTION_FC_OUT 1008
#define CS_INCEPTION_FC_IN 2048

typedef struct cs_conv_spec {
    const char *name; /* module path, e.g. "Mixed_5b.branch5x5_2"; tensors are <name>.conv.weight, <name>.bn.* */
    int cout, cin;    /* weight shape (cout, cin, kh, kw), OIHW */
    int kh, kw;
    int stride;       /* same in both directions */
    int ph, pw;       /* zero padding (rows, columns) */
} cs_conv_spec;

extern const cs_conv_spec cs_inception_convs[CS_INCEPTION_NUM_CONVS];

/* Index of a conv by module path, or -1. */
int cs_inception_conv_index(const char *name);

/* Elements per image of the largest tensor a layer of the network reads or writes (conv inputs
 * and outputs, the concatenated block outputs, which are the next layer's inputs, and the final
 * 2048 x 8 x 8): 64 x 147 x 147 = 1,382,976 (Conv2d_2b's output), derived from the table above. */
size_t cs_inception_max_activation(void);

/* Device bytes per image of a forward pass on a GPU, an upper estimate: the input and features
 * (float32), two activation regions and the convolution scratch (4 largest activations of
 * float32, see inception_arch.c), plus with fp16 a float16 copy of the largest conv input. */
size_t cs_inception_device_bytes_per_image(int fp16);

/* The largest batch a GPU may run as one chunk: no tensor over elem_limit elements (cuDNN's
 * legacy API indexes with 32-bit integers: 2^31 - 1) and device_bytes_per_image each within
 * mem_bytes. At least 1 (a single image that does not fit fails with the device's own error). */
int cs_inception_batch_limit(size_t elem_limit, size_t mem_bytes, int fp16);

#endif
