/* The FID Inception-v3 architecture (pytorch-fid's fid_inception_v3) as data.
 *
 * This table is the single description of the network's 94 convolutions, in forward
 * order. The weights loader derives the 566 expected tensor names and shapes of the
 * official file from it, and the forward pass (host/net/inception.c) takes each layer's
 * geometry from it. Each BasicConv2d = conv (no bias) + BatchNorm(eps 1e-3) + ReLU. */
#ifndef CS_INCEPTION_ARCH_H
#define CS_INCEPTION_ARCH_H

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

#endif
