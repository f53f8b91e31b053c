/* Shard specs and ranges (include/copyscope/shard.h): the blocks tile [0, n) in order, sizes differ
 * by at most one, start at floor(i n / N) exactly (checked in 128-bit integers), and bad specs and
 * --shard auto outside an array fail with CS_E_USAGE. */
#include "copyscope/shard.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_parse(const char *spec, cs_status want, long index, long count) {
    cs_shard s;
    cs_status st = cs_shard_parse(spec, &s);
    CHECK(st == want, "'%s': status %d, expected %d", spec, (int)st, (int)want);
    if (st == CS_OK && want == CS_OK)
        CHECK(s.index == index && s.count == count, "'%s': %ld/%ld, expected %ld/%ld", spec, s.index, s.count,
              index, count);
}

int main(void) {
    const size_t ns[] = {0, 1, 2, 7, 12, 35, 1000, 123457, (size_t)1 << 40};
    const long Ns[] = {1, 2, 3, 5, 17, 40, 1000, 999983};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof Ns[0]; b++) {
            size_t n = ns[a], prev = 0, lo = (size_t)-1, hi = 0;
            long N = Ns[b];
            for (long i = 0; i < N; i++) {
                size_t s, e;
                cs_shard sh = {i, N};
                cs_shard_range(sh, n, &s, &e);
                size_t want = (size_t)((unsigned __int128)n * (unsigned long)i / (unsigned long)N);
                CHECK(s == prev && s == want, "n %zu, shard %ld/%ld: begins at %zu, expected %zu (previous end %zu)",
                      n, i, N, s, want, prev);
                prev = e;
                if (e - s < lo) lo = e - s;
                if (e - s > hi) hi = e - s;
            }
            CHECK(prev == n, "n %zu, N %ld: the last shard ends at %zu", n, N, prev);
            CHECK(hi - lo <= 1, "n %zu, N %ld: shard sizes from %zu to %zu", n, N, lo, hi);
        }
    check_parse("0/1", CS_OK, 0, 1);
    check_parse("4/5", CS_OK, 4, 5);
    const char *bad[] = {"5/5", "-1/5", "1/0", "1/-2", "a/b", "1/2/3", "1", "", "/3", "3/", " 1/2", "1/2 ",
                         "99999999999999999999/3", "0/1000001", "auto/0", "auto/x", "autox"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) check_parse(bad[i], CS_E_USAGE, 0, 0);
    unsetenv("SLURM_ARRAY_TASK_ID");
    check_parse("auto", CS_E_USAGE, 0, 0);
    check_parse("auto/4", CS_E_USAGE, 0, 0);
    setenv("SLURM_ARRAY_TASK_ID", "7", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "5", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    check_parse("auto", CS_OK, 2, 3);   /* I = ID - MIN */
    check_parse("auto/8", CS_OK, 7, 8); /* I = ID */
    check_parse("auto/7", CS_E_USAGE, 0, 0); /* task 7 is not in [0, 7) */
    setenv("SLURM_ARRAY_TASK_COUNT", "2", 1);
    check_parse("auto", CS_E_USAGE, 0, 0); /* 7 - 5 >= 2 */
    setenv("SLURM_ARRAY_TASK_ID", "x", 1);
    check_parse("auto/8", CS_E_USAGE, 0, 0);
    char buf[64];
    cs_shard p = {3, 10};
    CHECK(cs_shard_part_path("d", p, buf, sizeof buf) == CS_OK && strcmp(buf, "d/part-3-of-10.h5") == 0,
          "part path '%s'", buf);
    CHECK(cs_shard_part_path("d", p, buf, 8) == CS_E_USAGE, "a too small buffer is refused");
    if (failures) fprintf(stderr, "%d failures\n", failures);
    else printf("shard: all checks passed\n");
    return failures ? 1 : 0;
}
