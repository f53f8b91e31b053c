/* Small API checks of the image module: extension matching (pytorch-fid's list; the exact
 * variant is case-sensitive like its pathlib glob), NULL-safety, in-memory decoding of a
 * minimal 1x1 PNG / PPM with known pixels, error statuses and messages, and
 * cs_image_load_many without a pool and without per-file messages. */
#include "copyscope/image.h"
#include "core/threadpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

int main(void) {
    /* extensions */
    const char *yes[] = {"a.png", "dir.x/b.JPG", "c.jpeg", "d.Tiff", "e.webp", "f.pgm", "g.ppm", "h.bmp", "i.tif"};
    const char *no[] = {"a", "a.", "a.gif", "a.png.txt", "dir.png/x", "a.pngx", "", "a.jp"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(cs_image_has_known_extension(yes[i]), "known extension: %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        CHECK(!cs_image_has_known_extension(no[i]), "not a known extension: %s", no[i]);
        CHECK(!cs_image_has_fid_extension(no[i]), "not an fid extension: %s", no[i]);
    }
    CHECK(!cs_image_has_known_extension(NULL), "NULL path");
    CHECK(cs_image_has_fid_extension("x/a.png") && cs_image_has_fid_extension("x/.jpeg"), "fid ext");
    CHECK(!cs_image_has_fid_extension("a.PNG") && !cs_image_has_fid_extension("b.Jpg"),
          "fid extension must be case-sensitive (pathlib glob on Linux)");

    /* NULL-safety */
    cs_image_free(NULL);
    cs_image img;

    /* 1x1 RGB PNG (pixel 0x11 0x22 0x33), written by hand */
    static const unsigned char png1[] = {
        0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1,
        0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde, 0, 0, 0, 12, 'I', 'D', 'A', 'T', 0x78,
        0xda, 0x63, 0x10, 0x54, 0x32, 0x06, 0x00, 0x00, 0xae, 0x00, 0x67, 0x2b, 0xe3, 0x72, 0xf3,
        0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    cs_status st = cs_image_decode(png1, sizeof png1, "one.png", &img);
    CHECK(st == CS_OK, "1x1 PNG: %s", cs_last_error());
    if (st == CS_OK)
        CHECK(img.width == 1 && img.height == 1 && img.rgb[0] == 0x11 && img.rgb[1] == 0x22 &&
                  img.rgb[2] == 0x33, "1x1 PNG pixel %02x %02x %02x", img.rgb[0], img.rgb[1], img.rgb[2]);
    cs_image_free(&img);
    CHECK(img.rgb == NULL && img.width == 0, "cs_image_free zeroes");

    /* P5 with maxval 3 (scaled like PIL: round(v / 3 * 255)) and a name of NULL */
    static const unsigned char pgm[] = "P5 2 2 3\n\x00\x01\x02\x03";
    st = cs_image_decode(pgm, sizeof pgm - 1, NULL, &img);
    CHECK(st == CS_OK && img.width == 2 && img.height == 2, "P5: %s", cs_last_error());
    if (st == CS_OK)
        CHECK(img.rgb[0] == 0 && img.rgb[3] == 85 && img.rgb[6] == 170 && img.rgb[9] == 255 &&
                  img.rgb[4] == 85 && img.rgb[5] == 85, "P5 values %d %d %d %d", img.rgb[0],
              img.rgb[3], img.rgb[6], img.rgb[9]);
    cs_image_free(&img);

    /* errors: status, message naming the input, empty image */
    struct { const char *data; size_t len; cs_status want; const char *msg; } bad[] = {
        {"", 0, CS_E_FORMAT, "m.png: empty file"},
        {"hello world", 11, CS_E_FORMAT, "m.png: not an image (unknown signature)"},
        {"\x89PNG", 4, CS_E_TRUNCATED, "m.png: truncated PNG"},
        {"\xff\xd8", 2, CS_E_TRUNCATED, "m.png: truncated JPEG"},
        {"GIF89a....", 10, CS_E_UNSUPPORTED, "m.png: unsupported format GIF"},
        {"RIFF\144\0\0\0WEBPVP8 ", 16, CS_E_TRUNCATED, "m.png: truncated WebP"},
        {"RIFF", 4, CS_E_TRUNCATED, "m.png: truncated WebP"},
        {"RIFF\4\0\0\0WEBPABCD", 16, CS_E_FORMAT, "m.png: corrupt WebP: first chunk is not VP8"},
        {"II*\0", 4, CS_E_TRUNCATED, "m.png: truncated TIFF"},
        {"MM\0", 3, CS_E_TRUNCATED, "m.png: truncated TIFF"},
        {"II\0*\10\0\0\0", 8, CS_E_UNSUPPORTED, "m.png: unsupported format TIFF (invalid byte-order header)"},
        {"BM", 2, CS_E_TRUNCATED, "m.png: truncated BMP"},
        {"BM\0\0\0\0\0\0\0\0\0\0\0\0\70\0\0\0", 18, CS_E_UNSUPPORTED, "m.png: unsupported BMP header type (56"},
        {"P6 0 5 255\n", 11, CS_E_FORMAT, "m.png: image has zero size"},
        {"P6 70000 5 255\n", 15, CS_E_FORMAT, "m.png: image is 70000x5, larger than the limit"},
        {"P6 2 2 255\nabc", 14, CS_E_TRUNCATED, "m.png: truncated PPM"},
        {"P6 2 2", 6, CS_E_TRUNCATED, "m.png: truncated PPM header"},
        {"P6 2 x 255\n", 11, CS_E_FORMAT, "m.png: corrupt PPM header"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        st = cs_image_decode((const unsigned char *)bad[i].data, bad[i].len, "m.png", &img);
        CHECK(st == bad[i].want, "case %zu: status %s, want %s (%s)", i, cs_status_name(st),
              cs_status_name(bad[i].want), cs_last_error());
        CHECK(strncmp(cs_last_error(), bad[i].msg, strlen(bad[i].msg)) == 0,
              "case %zu: message \"%s\", want \"%s...\"", i, cs_last_error(), bad[i].msg);
        CHECK(img.rgb == NULL && img.width == 0 && img.height == 0, "case %zu: image not empty", i);
    }

    /* a lower pixel limit refuses before allocating; 0 means the default limit */
    static const unsigned char big[] = "P5 3000 3000 255\n";
    st = cs_image_decode_limited(big, sizeof big - 1, "big.pgm", 1000000, &img);
    CHECK(st == CS_E_FORMAT && strstr(cs_last_error(), "big.pgm: image is 3000x3000, larger than the limit"),
          "decode_limited: %s %s", cs_status_name(st), cs_last_error());
    st = cs_image_decode_limited(big, sizeof big - 1, "big.pgm", 0, &img);
    CHECK(st == CS_E_TRUNCATED, "decode_limited(0): %s %s", cs_status_name(st), cs_last_error());
    st = cs_image_decode_limited(pgm, sizeof pgm - 1, "small.pgm", 4, &img);
    CHECK(st == CS_OK, "decode_limited at the limit: %s", cs_last_error());
    cs_image_free(&img);

    /* load_many without a pool and without messages: first failure in index order */
    const char *paths[] = {"/nonexistent/a.png", "/nonexistent/b.png"};
    cs_image out[2];
    cs_status sts[2];
    st = cs_image_load_many(NULL, paths, 2, out, sts, NULL);
    CHECK(st == CS_E_NOTFOUND && sts[0] == CS_E_NOTFOUND && sts[1] == CS_E_NOTFOUND,
          "load_many: %s", cs_status_name(st));
    CHECK(strstr(cs_last_error(), "/nonexistent/a.png") != NULL, "load_many message: %s", cs_last_error());
    CHECK(cs_image_load_many(NULL, paths, 0, out, sts, NULL) == CS_OK, "load_many n=0");

    printf("image misc: %s\n", failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
