/* Hostile-input test of the image decoder: every valid file given is truncated at many
 * offsets and corrupted by flipping random bytes (xorshift, seeded), and each variant is
 * decoded from an exact-size heap copy (so ASan/valgrind see any overread). The decoder must
 * never crash and must either succeed (a sane image) or fail cleanly: a status among
 * truncated/format/unsupported and a one-line message that names the input.
 * Truncations after the 3-byte signatures must give "truncated" or success (PNG, like PIL,
 * does not need what follows the image data), never "format".
 *
 *   test_image_hostile SEED FLIPS_PER_FILE MAX_CUTS_PER_FILE FILE... */
#include "copyscope/image.h"
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;
static uint64_t rng_next(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int n_ok, n_err, n_bad;

/* Decode len bytes of src (copied to an exact-size buffer); returns the status. */
static cs_status check_one(const unsigned char *src, size_t len, const char *what, int truncation) {
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) abort();
    memcpy(buf, src, len);
    char name[256];
    snprintf(name, sizeof name, "hostile-%s", what);
    cs_image img;
    cs_status st = cs_image_decode(buf, len, name, &img);
    const char *msg = cs_last_error();
    if (st == CS_OK) {
        if (img.width < 1 || img.height < 1 || !img.rgb) {
            fprintf(stderr, "BAD %s: success with an empty image\n", name);
            n_bad++;
        } else {
            volatile unsigned sum = 0; /* touch every byte: uninitialised memory shows under valgrind */
            for (size_t i = 0; i < (size_t)img.width * img.height * 3; i++) sum += img.rgb[i];
            (void)sum;
            n_ok++;
        }
    } else {
        int clean = (st == CS_E_TRUNCATED || st == CS_E_FORMAT || st == CS_E_UNSUPPORTED) &&
                    strstr(msg, name) == msg && !strchr(msg, '\n');
        if (truncation && len >= 3 && st != CS_E_TRUNCATED) clean = 0;
        if (!clean || img.rgb) {
            fprintf(stderr, "BAD %s: status %s, message \"%s\"\n", name, cs_status_name(st), msg);
            n_bad++;
        } else {
            n_err++;
        }
    }
    cs_image_free(&img);
    free(buf);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s SEED FLIPS_PER_FILE MAX_CUTS_PER_FILE FILE...\n", argv[0]);
        return 2;
    }
    rng_state = strtoull(argv[1], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
    long flips = strtol(argv[2], NULL, 10), max_cuts = strtol(argv[3], NULL, 10);
    for (int f = 4; f < argc; f++) {
        unsigned char *data;
        size_t len;
        if (cs_read_file(argv[f], (size_t)1 << 30, &data, &len) != CS_OK) {
            fprintf(stderr, "%s\n", cs_last_error());
            return 2;
        }
        const char *base = strrchr(argv[f], '/');
        base = base ? base + 1 : argv[f];
        char what[300];
        snprintf(what, sizeof what, "%s-intact", base);
        if (check_one(data, len, what, 0) != CS_OK) {
            fprintf(stderr, "%s: the intact file does not decode: %s\n", argv[f], cs_last_error());
            return 1;
        }
        /* truncations: every offset in the first 64 bytes (headers), then an even spread */
        size_t step = len / (size_t)(max_cuts > 64 ? max_cuts - 64 : 1) + 1;
        for (size_t cut = 0; cut < len; cut += cut < 64 ? 1 : step) {
            snprintf(what, sizeof what, "%s-cut%zu", base, cut);
            check_one(data, cut, what, 1);
        }
        /* random corruption: 1..8 bytes replaced, mostly in the first 2 KiB (headers, tables) */
        unsigned char *mut = malloc(len);
        if (!mut) return 1;
        for (long it = 0; it < flips; it++) {
            memcpy(mut, data, len);
            int nflip = 1 + (int)(rng_next() % 8);
            for (int k = 0; k < nflip; k++) {
                size_t span = (rng_next() % 4) ? (len < 2048 ? len : 2048) : len;
                size_t pos = (size_t)(rng_next() % span);
                mut[pos] = (rng_next() % 3) ? (unsigned char)rng_next() : (unsigned char)(mut[pos] ^ 0x80);
            }
            snprintf(what, sizeof what, "%s-flip%ld", base, it);
            check_one(mut, len, what, 0);
        }
        free(mut);
        free(data);
    }
    printf("hostile inputs: %d decoded, %d clean errors, %d bad\n", n_ok, n_err, n_bad);
    return n_bad ? 1 : 0;
}
