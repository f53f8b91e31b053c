/* libFuzzer target for the HDF5 statistics and features readers (host/io/statsfile.c,
 * h5util.c), built with -DCOPYSCOPE_FUZZ=ON and clang:  fuzz_h5 -max_total_time=60 CORPUS_DIR
 * (seeds: tests/fuzz_seeds.py). Each input is written to a temp .h5 file and read as statistics
 * and as a features file. Any outcome but a clean status is a bug (ASan/UBSan abort); crashes
 * inside libhdf5 itself (not instrumented) show up as SEGV with HDF5 frames. */
#include "copyscope/statsfile.h"
#include "fuzz_tmpfile.h"

static void cs_fuzz_check(cs_status st) {
    if (st != CS_OK && cs_status_exit_code(st) != 2) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = cs_fuzz_tmpfile(data, size, ".h5");
    cs_stats *s = NULL;
    cs_status st = cs_h5_read_stats(path, &s);
    cs_fuzz_check(st);
    if ((st == CS_OK) != (s != NULL)) abort();
    cs_stats_free(s);
    int64_t n = 0;
    int d = 0;
    cs_extractor_id id;
    cs_fuzz_check(cs_features_file_info(path, &n, &d, &id));
    cs_features f;
    memset(&f, 0, sizeof f);
    st = cs_features_file_read(path, 1, &f);
    cs_fuzz_check(st);
    if (st == CS_OK) cs_features_free(&f);
    s = NULL;
    st = cs_features_file_stats(path, &s);
    cs_fuzz_check(st);
    cs_stats_free(s);
    return 0;
}
