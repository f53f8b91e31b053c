/* libFuzzer target for the .npz statistics reader (host/io/npz.c), built with -DCOPYSCOPE_FUZZ=ON
 * and clang:  fuzz_npz -max_total_time=60 CORPUS_DIR  (seeds: tests/fuzz_seeds.py). Each input is
 * read as a whole .npz file and its first bytes also as a bare .npy image (cs_npy_parse takes
 * memory). Any outcome but a clean status is a bug (ASan/UBSan abort). */
#include "copyscope/statsfile.h"
#include "fuzz_tmpfile.h"
#include "io/npz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cs_stats *s = NULL;
    cs_status st = cs_npz_read_stats(cs_fuzz_tmpfile(data, size, ".npz"), &s);
    if (st == CS_OK) {
        if (!s) abort();
        cs_stats_free(s);
    } else if (s != NULL || cs_status_exit_code(st) != 2) {
        abort(); /* partial result, or not an input error */
    }
    double *arr = NULL;
    int nd = 0;
    int64_t shape[2];
    st = cs_npy_parse(data, size, "fuzz.npy", 1u << 16, &arr, &nd, shape);
    if (st == CS_OK) {
        volatile double acc = 0;
        for (int64_t i = 0; i < shape[0] * shape[1]; i++) acc += arr[i];
        (void)acc;
        free(arr);
    } else if (cs_status_exit_code(st) != 2) {
        abort();
    }
    return 0;
}
