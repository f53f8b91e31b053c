/* Shared by the file-based fuzz targets: the readers take a path, so each input is written to one
 * temp file per process (rewritten in place for every input) with the suffix the reader expects. */
#ifndef CS_FUZZ_TMPFILE_H
#define CS_FUZZ_TMPFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *cs_fuzz_tmpfile(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    static int fd = -1;
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/cs-fuzz-XXXXXX%s", dir && *dir ? dir : "/tmp", suffix);
        fd = mkstemps(path, (int)strlen(suffix));
        if (fd < 0) abort();
    }
    if (ftruncate(fd, 0) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    return path;
}

#endif
