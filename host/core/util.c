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

/* What a stat mode is, for messages. */
static const char *cs_file_type_name(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

cs_status cs_check_regular_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        struct stat lb;
        if (e == ENOENT && lstat(path, &lb) == 0 && S_ISLNK(lb.st_mode))
            return CS_FAIL(CS_E_NOTFOUND, "%s: dangling symbolic link (its target does not exist)", path);
        if (e == ENOENT) return CS_FAIL(CS_E_NOTFOUND, "%s: no such file", path);
        if (e == ELOOP)
            return CS_FAIL(CS_E_FORMAT, "%s: symbolic link loop (too many levels of symbolic links)", path);
        if (e == ENOTDIR) return CS_FAIL(CS_E_NOTFOUND, "%s: a component of the path is not a directory", path);
        if (e == ENAMETOOLONG) return CS_FAIL(CS_E_USAGE, "%s: file name too long", path);
        return CS_FAIL(CS_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode))
        return CS_FAIL(CS_E_FORMAT, "%s: is %s, expected a regular file (refused without reading it)",
                       path, cs_file_type_name(sb.st_mode));
    return CS_OK;
}

cs_status cs_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    /* stat before open: opening a FIFO blocks, a device never ends */
    CS_TRY(cs_check_regular_file(path));
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
    if (!S_ISREG(sb.st_mode)) { /* replaced after the stat above */
        fclose(f);
        return CS_FAIL(CS_E_FORMAT, "%s: is %s, expected a regular file", path,
                       cs_file_type_name(sb.st_mode));
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
