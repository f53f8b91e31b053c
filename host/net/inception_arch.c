/* The FID Inception-v3 convolution table (see inception_arch.h). Shapes checked against the
 * genuine header of the official weights file (../shared/fixtures) by tests/weights.cmake. */
#include "net/inception_arch.h"

#include <limits.h>
#include <string.h>

const cs_conv_spec cs_inception_convs[CS_INCEPTION_NUM_CONVS] = {
    /* name                          cout  cin kh kw stride ph pw */
    {"Conv2d_1a_3x3", 32, 3, 3, 3, 2, 0, 0},
    {"Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0},
    {"Conv2d_2b_3x3", 64, 32, 3, 3, 1, 1, 1},
    {"Conv2d_3b_1x1", 80, 64, 1, 1, 1, 0, 0},
    {"Conv2d_4a_3x3", 192, 80, 3, 3, 1, 0, 0},
    {"Mixed_5b.branch1x1", 64, 192, 1, 1, 1, 0, 0},
    {"Mixed_5b.branch5x5_1", 48, 192, 1, 1, 1, 0, 0},
    {"Mixed_5b.branch5x5_2", 64, 48, 5, 5, 1, 2, 2},
    {"Mixed_5b.branch3x3dbl_1", 64, 192, 1, 1, 1, 0, 0},
    {"Mixed_5b.branch3x3dbl_2", 96, 64, 3, 3, 1, 1, 1},
    {"Mixed_5b.branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1},
    {"Mixed_5b.branch_pool", 32, 192, 1, 1, 1, 0, 0},
    {"Mixed_5c.branch1x1", 64, 256, 1, 1, 1, 0, 0},
    {"Mixed_5c.branch5x5_1", 48, 256, 1, 1, 1, 0, 0},
    {"Mixed_5c.branch5x5_2", 64, 48, 5, 5, 1, 2, 2},
    {"Mixed_5c.branch3x3dbl_1", 64, 256, 1, 1, 1, 0, 0},
    {"Mixed_5c.branch3x3dbl_2", 96, 64, 3, 3, 1, 1, 1},
    {"Mixed_5c.branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1},
    {"Mixed_5c.branch_pool", 64, 256, 1, 1, 1, 0, 0},
    {"Mixed_5d.branch1x1", 64, 288, 1, 1, 1, 0, 0},
    {"Mixed_5d.branch5x5_1", 48, 288, 1, 1, 1, 0, 0},
    {"Mixed_5d.branch5x5_2", 64, 48, 5, 5, 1, 2, 2},
    {"Mixed_5d.branch3x3dbl_1", 64, 288, 1, 1, 1, 0, 0},
    {"Mixed_5d.branch3x3dbl_2", 96, 64, 3, 3, 1, 1, 1},
    {"Mixed_5d.branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1},
    {"Mixed_5d.branch_pool", 64, 288, 1, 1, 1, 0, 0},
    {"Mixed_6a.branch3x3", 384, 288, 3, 3, 2, 0, 0},
    {"Mixed_6a.branch3x3dbl_1", 64, 288, 1, 1, 1, 0, 0},
    {"Mixed_6a.branch3x3dbl_2", 96, 64, 3, 3, 1, 1, 1},
    {"Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0},
    {"Mixed_6b.branch1x1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6b.branch7x7_1", 128, 768, 1, 1, 1, 0, 0},
    {"Mixed_6b.branch7x7_2", 128, 128, 1, 7, 1, 0, 3},
    {"Mixed_6b.branch7x7_3", 192, 128, 7, 1, 1, 3, 0},
    {"Mixed_6b.branch7x7dbl_1", 128, 768, 1, 1, 1, 0, 0},
    {"Mixed_6b.branch7x7dbl_2", 128, 128, 7, 1, 1, 3, 0},
    {"Mixed_6b.branch7x7dbl_3", 128, 128, 1, 7, 1, 0, 3},
    {"Mixed_6b.branch7x7dbl_4", 128, 128, 7, 1, 1, 3, 0},
    {"Mixed_6b.branch7x7dbl_5", 192, 128, 1, 7, 1, 0, 3},
    {"Mixed_6b.branch_pool", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6c.branch1x1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6c.branch7x7_1", 160, 768, 1, 1, 1, 0, 0},
    {"Mixed_6c.branch7x7_2", 160, 160, 1, 7, 1, 0, 3},
    {"Mixed_6c.branch7x7_3", 192, 160, 7, 1, 1, 3, 0},
    {"Mixed_6c.branch7x7dbl_1", 160, 768, 1, 1, 1, 0, 0},
    {"Mixed_6c.branch7x7dbl_2", 160, 160, 7, 1, 1, 3, 0},
    {"Mixed_6c.branch7x7dbl_3", 160, 160, 1, 7, 1, 0, 3},
    {"Mixed_6c.branch7x7dbl_4", 160, 160, 7, 1, 1, 3, 0},
    {"Mixed_6c.branch7x7dbl_5", 192, 160, 1, 7, 1, 0, 3},
    {"Mixed_6c.branch_pool", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6d.branch1x1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6d.branch7x7_1", 160, 768, 1, 1, 1, 0, 0},
    {"Mixed_6d.branch7x7_2", 160, 160, 1, 7, 1, 0, 3},
    {"Mixed_6d.branch7x7_3", 192, 160, 7, 1, 1, 3, 0},
    {"Mixed_6d.branch7x7dbl_1", 160, 768, 1, 1, 1, 0, 0},
    {"Mixed_6d.branch7x7dbl_2", 160, 160, 7, 1, 1, 3, 0},
    {"Mixed_6d.branch7x7dbl_3", 160, 160, 1, 7, 1, 0, 3},
    {"Mixed_6d.branch7x7dbl_4", 160, 160, 7, 1, 1, 3, 0},
    {"Mixed_6d.branch7x7dbl_5", 192, 160, 1, 7, 1, 0, 3},
    {"Mixed_6d.branch_pool", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6e.branch1x1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6e.branch7x7_1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6e.branch7x7_2", 192, 192, 1, 7, 1, 0, 3},
    {"Mixed_6e.branch7x7_3", 192, 192, 7, 1, 1, 3, 0},
    {"Mixed_6e.branch7x7dbl_1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_6e.branch7x7dbl_2", 192, 192, 7, 1, 1, 3, 0},
    {"Mixed_6e.branch7x7dbl_3", 192, 192, 1, 7, 1, 0, 3},
    {"Mixed_6e.branch7x7dbl_4", 192, 192, 7, 1, 1, 3, 0},
    {"Mixed_6e.branch7x7dbl_5", 192, 192, 1, 7, 1, 0, 3},
    {"Mixed_6e.branch_pool", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_7a.branch3x3_1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_7a.branch3x3_2", 320, 192, 3, 3, 2, 0, 0},
    {"Mixed_7a.branch7x7x3_1", 192, 768, 1, 1, 1, 0, 0},
    {"Mixed_7a.branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3},
    {"Mixed_7a.branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0},
    {"Mixed_7a.branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0},
    {"Mixed_7b.branch1x1", 320, 1280, 1, 1, 1, 0, 0},
    {"Mixed_7b.branch3x3_1", 384, 1280, 1, 1, 1, 0, 0},
    {"Mixed_7b.branch3x3_2a", 384, 384, 1, 3, 1, 0, 1},
    {"Mixed_7b.branch3x3_2b", 384, 384, 3, 1, 1, 1, 0},
    {"Mixed_7b.branch3x3dbl_1", 448, 1280, 1, 1, 1, 0, 0},
    {"Mixed_7b.branch3x3dbl_2", 384, 448, 3, 3, 1, 1, 1},
    {"Mixed_7b.branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1},
    {"Mixed_7b.branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0},
    {"Mixed_7b.branch_pool", 192, 1280, 1, 1, 1, 0, 0},
    {"Mixed_7c.branch1x1", 320, 2048, 1, 1, 1, 0, 0},
    {"Mixed_7c.branch3x3_1", 384, 2048, 1, 1, 1, 0, 0},
    {"Mixed_7c.branch3x3_2a", 384, 384, 1, 3, 1, 0, 1},
    {"Mixed_7c.branch3x3_2b", 384, 384, 3, 1, 1, 1, 0},
    {"Mixed_7c.branch3x3dbl_1", 448, 2048, 1, 1, 1, 0, 0},
    {"Mixed_7c.branch3x3dbl_2", 384, 448, 3, 3, 1, 1, 1},
    {"Mixed_7c.branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1},
    {"Mixed_7c.branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0},
    {"Mixed_7c.branch_pool", 192, 2048, 1, 1, 1, 0, 0},
};

int cs_inception_conv_index(const char *name) {
    for (int i = 0; i < CS_INCEPTION_NUM_CONVS; i++)
        if (strcmp(cs_inception_convs[i].name, name) == 0) return i;
    return -1;
}

static int conv_out(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }
static int pool3s2(int in) { return (in - 3) / 2 + 1; } /* the stem's 3x3 stride-2 max pools */

size_t cs_inception_max_activation(void) {
    /* The stem is a chain: each conv reads the previous output; a 3x3/2 max pool follows
     * Conv2d_2b and Conv2d_4a. In a Mixed block every conv reads a tensor of the block's input
     * size (its stride-1 convs keep the size; the stride-2 ones of Mixed_6a/7a end their branch
     * and set the block's output size). A block's concatenated output is the next block's input,
     * so the inputs cover it; the last one is the 2048 x 8 x 8 before the global pool. */
    int h = CS_INCEPTION_INPUT_SIZE, w = CS_INCEPTION_INPUT_SIZE;
    int bh = 0, bw = 0, nh = 0, nw = 0; /* current block's input and output size */
    size_t best = (size_t)3 * (size_t)h * (size_t)w;
    const char *block = NULL;
    size_t block_len = 0;
    for (int i = 0; i < CS_INCEPTION_NUM_CONVS; i++) {
        const cs_conv_spec *s = &cs_inception_convs[i];
        const char *dot = strchr(s->name, '.');
        int ih, iw;
        if (!dot) { /* stem */
            ih = h, iw = w;
        } else {
            if (!block || (size_t)(dot - s->name) != block_len || strncmp(block, s->name, block_len) != 0) {
                if (block) h = nh, w = nw; /* the previous block's output */
                block = s->name;
                block_len = (size_t)(dot - s->name);
                bh = nh = h;
                bw = nw = w;
            }
            ih = bh, iw = bw;
        }
        const int oh = conv_out(ih, s->kh, s->stride, s->ph), ow = conv_out(iw, s->kw, s->stride, s->pw);
        const size_t in = (size_t)s->cin * (size_t)ih * (size_t)iw, out = (size_t)s->cout * (size_t)oh * (size_t)ow;
        if (in > best) best = in;
        if (out > best) best = out;
        if (!dot) {
            h = oh, w = ow;
            if (!strcmp(s->name, "Conv2d_2b_3x3") || !strcmp(s->name, "Conv2d_4a_3x3")) h = pool3s2(h), w = pool3s2(w);
        } else if (oh < nh) {
            nh = oh, nw = ow;
        }
    }
    const size_t last = (size_t)CS_INCEPTION_FC_IN * (size_t)nh * (size_t)nw;
    return last > best ? last : best;
}

size_t cs_inception_device_bytes_per_image(int fp16) {
    const size_t act = cs_inception_max_activation();
    size_t floats = (size_t)3 * CS_INCEPTION_INPUT_SIZE * CS_INCEPTION_INPUT_SIZE + CS_INCEPTION_FC_IN;
    floats += 4 * act; /* two ping-pong regions (at most ~1.5 largest activations, with branch
                          temporaries counted generously as 3) + the conv scratch (1) */
    size_t bytes = floats * sizeof(float);
    if (fp16) bytes += act * 2; /* float16 copy of a conv input */
    return bytes;
}

int cs_inception_batch_limit(size_t elem_limit, size_t mem_bytes, int fp16) {
    size_t by_elems = elem_limit / cs_inception_max_activation();
    size_t by_mem = mem_bytes / cs_inception_device_bytes_per_image(fp16);
    size_t n = by_elems < by_mem ? by_elems : by_mem;
    if (n > INT_MAX) n = INT_MAX;
    return n < 1 ? 1 : (int)n;
}
