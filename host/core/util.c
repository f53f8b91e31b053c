/* Small host utilities: checked allocation, whole-file reads, clocks. */
#include "core/common.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void *cs_malloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) CS_FAIL(CS_E_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *cs_calloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) CS_FAIL(CS_E_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

cs_status cs_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return CS_FAIL(CS_E_NOTFOUND, "%s: no such file", path);
        return CS_FAIL(CS_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return CS_FAIL(CS_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        fclose(f);
        return CS_FAIL(CS_E_FORMAT, "%s: is a directory, expected a file", path);
    }
    if ((uint64_t)sb.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return CS_FAIL(CS_E_FORMAT, "%s: file is %lld bytes, more than the limit of %zu", path,
                       (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = cs_malloc(n + 1, path);
    if (!buf) {
        fclose(f);
        return CS_E_NOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(buf);
        return CS_FAIL(CS_E_IO, "%s: read failed (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return CS_OK;
}

double cs_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
