/* libFuzzer target for the safetensors reader (host/io/safetensors.c) and the weights loader on
 * top of it (host/io/weights.c), built with -DCOPYSCOPE_FUZZ=ON and clang:
 *   fuzz_safetensors -max_total_time=60 CORPUS_DIR   (seeds: tests/fuzz_seeds.py)
 * Checks, besides ASan/UBSan: an accepted header describes tensors that lie inside the input and
 * tile its data exactly; the loader agrees with the header reader (it never accepts what the
 * reader refused) and every tensor it returns has numel values. */
#include "copyscope/weights.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cs_st_header h;
    cs_status st = cs_safetensors_parse(data, size, "fuzz.safetensors", &h);
    if (st == CS_OK) {
        uint64_t total = 0;
        for (size_t i = 0; i < h.n; i++) {
            const cs_st_tensor *t = &h.t[i];
            uint64_t bytes = (uint64_t)t->numel * (uint64_t)t->elem_size;
            if (t->begin < h.data_start || t->begin > size || bytes > size - t->begin) abort();
            total += bytes;
        }
        if (total != size - h.data_start) abort(); /* the tensors tile the data */
        cs_safetensors_free(&h);
    }
    cs_weights *w = NULL;
    if (cs_safetensors_sniff(data, size)) {
        cs_status wst = cs_weights_load_memory(data, size, "fuzz.safetensors", CS_WEIGHTS_ANY_MODEL, &w);
        if (wst == CS_OK) {
            if (st != CS_OK) abort();
            for (size_t i = 0; i < cs_weights_tensor_count(w); i++) {
                cs_tensor_view v;
                if (cs_weights_tensor_at(w, i, &v) != CS_OK || (!v.data && !v.idata && v.numel)) abort();
            }
            cs_weights_free(w);
        } else if (w) {
            abort();
        }
    }
    return 0;
}
