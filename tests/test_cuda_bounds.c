/* The host-side rules of the cuda backend, checked without a GPU (ctest cuda_bounds):
 *
 *  1. cs_inception_max_activation: the largest tensor per image is Conv2d_2b's output,
 *     64 x 147 x 147 = 1,382,976 elements (the stem: 299 -> 149 -> 147 -> 147 -> pool 73 -> 73
 *     -> 71 -> pool 35; by hand from REFERENCE.md's spatial sizes), larger than the input
 *     3 x 299 x 299 and the 2048 x 8 x 8 before the global pool.
 *  2. cs_inception_batch_limit: with cuDNN's 2^31 - 1 elements and unbounded memory, 1552 images
 *     (1552 x 1,382,976 = 2,146,378,752 <= 2^31 - 1 < 1553 x 1,382,976), the "about 1,550" of the
 *     issue; memory bounds it below that (n x bytes per image <= budget < (n + 1) x bytes per
 *     image); never below 1; fp16 needs more per image than fp32.
 *  3. cs_cudnn_status_class (kernels/cudnn_status_class.h): BAD_PARAM and its sub-codes are
 *     descriptor errors, not refusals; NOT_SUPPORTED and its layout/shape sub-codes are
 *     refusals (try the next algorithm); driver/runtime/arch sub-codes and everything else are
 *     failures; cuDNN 8's numbering (BAD_PARAM 3, NOT_SUPPORTED 9) likewise. */
#include "net/inception_arch.h"
#include "cudnn_status_class.h"

#include "check.h"

#include <stdint.h>

int main(void) {
    const size_t act = cs_inception_max_activation();
    CHECK(act == (size_t)64 * 147 * 147, "max activation %zu, expected 64x147x147 = %zu", act, (size_t)64 * 147 * 147);
    CHECK(act > (size_t)3 * 299 * 299 && act > (size_t)2048 * 8 * 8, "max activation %zu below input/final", act);

    const size_t huge = (size_t)1 << 50;
    const int n = cs_inception_batch_limit((size_t)INT32_MAX, huge, 0);
    CHECK(n == 1552, "element bound %d images, expected 1552", n);
    CHECK((size_t)n * act <= (size_t)INT32_MAX && (size_t)(n + 1) * act > (size_t)INT32_MAX,
          "bound %d is not the largest batch under 2^31 - 1 elements", n);
    const size_t per32 = cs_inception_device_bytes_per_image(0), per16 = cs_inception_device_bytes_per_image(1);
    CHECK(per16 > per32 && per32 >= 4 * ((size_t)3 * 299 * 299 + 2048 + act),
          "bytes per image fp32 %zu fp16 %zu", per32, per16);
    const size_t budget = (size_t)16 << 30; /* a 16 GiB budget: memory is the bound */
    const int m = cs_inception_batch_limit((size_t)INT32_MAX, budget, 0);
    CHECK(m < 1552 && (size_t)m * per32 <= budget && (size_t)(m + 1) * per32 > budget,
          "memory bound %d for %zu bytes at %zu bytes per image", m, budget, per32);
    CHECK(cs_inception_batch_limit((size_t)INT32_MAX, 0, 1) == 1, "no memory: still 1 (the device reports OOM)");
    CHECK(cs_inception_batch_limit(act - 1, huge, 0) == 1, "element limit below one image: 1");
    printf("max activation %zu elements/image; bound %d images (2^31 - 1 elements); %d in 16 GiB "
           "(%zu bytes/image fp32, %zu fp16)\n", act, n, m, per32, per16);

    static const struct { int code, major, want; } cases[] = {
        {0, 9, CS_DNN_OK},           {2000, 9, CS_DNN_BAD_PARAM}, {2002, 9, CS_DNN_BAD_PARAM},
        {2008, 9, CS_DNN_BAD_PARAM}, {2012, 9, CS_DNN_BAD_PARAM}, {3000, 9, CS_DNN_REFUSED},
        {3002, 9, CS_DNN_REFUSED},   {3004, 9, CS_DNN_REFUSED},   {3010, 9, CS_DNN_REFUSED},
        {3005, 9, CS_DNN_FAILED},    {3007, 9, CS_DNN_FAILED},    {3009, 9, CS_DNN_FAILED},
        {4000, 9, CS_DNN_FAILED},    {5000, 9, CS_DNN_FAILED},    {1001, 9, CS_DNN_FAILED},
        {0, 8, CS_DNN_OK},           {3, 8, CS_DNN_BAD_PARAM},    {9, 8, CS_DNN_REFUSED},
        {4, 8, CS_DNN_FAILED},       {8, 8, CS_DNN_FAILED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(cs_cudnn_status_class(cases[i].code, cases[i].major) == cases[i].want, "cuDNN %d status %d: class %d, expected %d",
              cases[i].major, cases[i].code, cs_cudnn_status_class(cases[i].code, cases[i].major), cases[i].want);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
