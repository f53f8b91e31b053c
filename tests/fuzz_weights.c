/* libFuzzer target for the weights loader (built with -DCOPYSCOPE_FUZZ=ON and clang).
 *   fuzz_weights -max_total_time=60 CORPUS_DIR     (seed the corpus with small .pth files)
 * Every input is loaded three ways; any outcome but a clean status is a bug (ASan/UBSan abort). */
#include "copyscope/weights.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const unsigned flags[] = {CS_WEIGHTS_ANY_MODEL, CS_WEIGHTS_HEADER_ONLY, 0};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        cs_weights *w = NULL;
        cs_status st = cs_weights_load_memory(data, size, "fuzz", flags[i], &w);
        if (st == CS_OK) {
            /* read every value so that a bad view is caught */
            volatile double acc = 0;
            for (size_t k = 0; k < cs_weights_tensor_count(w); k++) {
                cs_tensor_view v;
                if (cs_weights_tensor_at(w, k, &v) != CS_OK) abort();
                for (size_t j = 0; j < v.numel; j++) {
                    if (v.data) acc += v.data[j];
                    if (v.idata) acc += (double)v.idata[j];
                }
            }
            cs_weights_free(w);
        } else if (w != NULL || cs_status_exit_code(st) != 2) {
            abort(); /* partial result or not an input error */
        }
    }
    return 0;
}
