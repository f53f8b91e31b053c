/* HDF5 helpers: quiet error stack, attributes, whole-dataset writes, fsync. */
#include "io/h5util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

const char *cs_write_fail_note(const char *path) {
    int e = errno;
    if (e == ENOSPC) return " (disk full)";
    if (e == EDQUOT) return " (disk quota exceeded)";
    /* HDF5 may have overwritten errno since the failing write: ask the file system */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    struct statvfs vs;
    if (statvfs(dirname(tmp), &vs) == 0 && vs.f_bavail == 0) return " (disk full)";
    return "";
}

/* Temporary files of a killed writer: "<base>.tmp-<pid>" beside path, the pid no longer running
 * on this machine, untouched for CS_TMP_STALE_S seconds (a writer on another node of a shared
 * file system may have the same pid; a live writer keeps its file's mtime recent). */
#define CS_TMP_STALE_S 60

void cs_tmp_sweep_stale(const char *path) {
    char dbuf[4096], bbuf[4096];
    snprintf(dbuf, sizeof dbuf, "%s", path);
    snprintf(bbuf, sizeof bbuf, "%s", path);
    const char *dir = dirname(dbuf), *base = basename(bbuf);
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp-", 5) != 0) continue;
        const char *q = nm + bl + 5;
        char *end;
        long pid = strtol(q, &end, 10);
        if (end == q || *end != 0 || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to judge) */
        char full[8300];
        snprintf(full, sizeof full, "%s/%s", dir, nm);
        struct stat sb;
        if (lstat(full, &sb) != 0 || !S_ISREG(sb.st_mode) || now - sb.st_mtime < CS_TMP_STALE_S) continue;
        if (unlink(full) == 0) fprintf(stderr, "copyscope: removed %s, left by a killed writer\n", full);
    }
    closedir(d);
}

void cs_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

cs_status cs_h5_write_attr_str(hid_t obj, const char *name, const char *value, const char *path) {
    cs_status st = CS_OK;
    hid_t type = H5Tcopy(H5T_C_S1), space = -1, attr = -1;
    if (type < 0 || H5Tset_size(type, strlen(value) + 1) < 0) goto fail;
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    H5Tset_cset(type, H5T_CSET_UTF8);
    space = H5Screate(H5S_SCALAR);
    if (space < 0) goto fail;
    attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, type, value) < 0) goto fail;
    goto done;
fail:
    st = CS_FAIL(CS_E_IO, "%s: cannot write HDF5 attribute '%s'%s", path, name, cs_write_fail_note(path));
done:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return st;
}

cs_status cs_h5_read_attr_str(hid_t obj, const char *name, char *out, size_t out_size, const char *path) {
    cs_status st = CS_OK;
    hid_t attr = -1, type = -1, mtype = -1, sp = -1;
    char *buf = NULL;
    out[0] = 0;
    if (H5Aexists(obj, name) <= 0)
        return CS_FAIL(CS_E_FORMAT, "%s: HDF5 attribute '%s' is missing", path, name);
    attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) goto fail;
    type = H5Aget_type(attr);
    sp = H5Aget_space(attr);
    if (type < 0 || sp < 0 || H5Tget_class(type) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1)
        goto fail;
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mtype, H5Tget_cset(type)); /* HDF5 does not convert between charsets */
    if (H5Tis_variable_str(type) > 0) {
        H5Tset_size(mtype, H5T_VARIABLE);
        char *vs = NULL;
        if (H5Aread(attr, mtype, &vs) < 0) goto fail;
        snprintf(out, out_size, "%s", vs ? vs : "");
        H5free_memory(vs);
    } else {
        size_t sz = H5Tget_size(type);
        if (sz == 0 || sz > 65536) goto fail;
        buf = calloc(sz + 1, 1);
        H5Tset_size(mtype, sz + 1);
        if (!buf || H5Aread(attr, mtype, buf) < 0) goto fail;
        snprintf(out, out_size, "%s", buf);
    }
    for (char *q = out; *q; q++) /* attribute text can end up in messages: printable ASCII only */
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) *q = '?';
    goto done;
fail:
    st = CS_FAIL(CS_E_FORMAT, "%s: HDF5 attribute '%s' is not a readable string", path, name);
done:
    free(buf);
    if (mtype >= 0) H5Tclose(mtype);
    if (sp >= 0) H5Sclose(sp);
    if (type >= 0) H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    return st;
}

cs_status cs_h5_write_attr_int(hid_t obj, const char *name, long long value, const char *path) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = attr >= 0 ? H5Awrite(attr, H5T_NATIVE_LLONG, &value) : -1;
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    if (e < 0)
        return CS_FAIL(CS_E_IO, "%s: cannot write HDF5 attribute '%s'%s", path, name, cs_write_fail_note(path));
    return CS_OK;
}

cs_status cs_h5_read_attr_int(hid_t obj, const char *name, long long *value, const char *path) {
    if (H5Aexists(obj, name) <= 0)
        return CS_FAIL(CS_E_FORMAT, "%s: HDF5 attribute '%s' is missing", path, name);
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t space = attr >= 0 ? H5Aget_space(attr) : -1;
    herr_t e = -1;
    if (space >= 0 && H5Sget_simple_extent_npoints(space) == 1) e = H5Aread(attr, H5T_NATIVE_LLONG, value);
    if (space >= 0) H5Sclose(space);
    if (attr >= 0) H5Aclose(attr);
    if (e < 0) return CS_FAIL(CS_E_FORMAT, "%s: HDF5 attribute '%s' is not an integer", path, name);
    return CS_OK;
}

cs_status cs_h5_write_2d(hid_t file, const char *name, hid_t mem_type, hid_t file_type, size_t rows,
                         size_t cols, const void *data, const char *path) {
    hsize_t dims[2] = {rows, cols};
    int rank = cols ? 2 : 1;
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dset = space >= 0 ? H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t e = dset >= 0 ? (rows ? H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0) : -1;
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    if (e < 0)
        return CS_FAIL(CS_E_IO, "%s: cannot write HDF5 dataset '%s'%s", path, name, cs_write_fail_note(path));
    return CS_OK;
}

cs_status cs_h5_write_strings(hid_t file, const char *name, char *const *strs, size_t n, const char *path) {
    hsize_t dims[1] = {n};
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = dset >= 0 ? (n ? H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, strs) : 0) : -1;
    if (dset >= 0) H5Dclose(dset);
    H5Sclose(space);
    H5Tclose(type);
    if (e < 0)
        return CS_FAIL(CS_E_IO, "%s: cannot write HDF5 dataset '%s'%s", path, name, cs_write_fail_note(path));
    return CS_OK;
}

/* Deflate expands at most ~1032:1; each chunk adds a few bytes of its own. */
#define CS_H5_MAX_RATIO 1100
#define CS_H5_RATIO_SLACK 65536

cs_status cs_h5_check_dataset(hid_t ds, const char *name, const char *path) {
    cs_status st = CS_OK;
    hid_t dcpl = H5Dget_create_plist(ds), type = H5Dget_type(ds), space = H5Dget_space(ds);
    if (dcpl < 0 || type < 0 || space < 0) {
        st = CS_FAIL(CS_E_FORMAT, "%s: cannot read the properties of dataset /%s (corrupt?)", path, name);
        goto done;
    }
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout == H5D_VIRTUAL) {
        st = CS_FAIL(CS_E_FORMAT, "%s: dataset /%s is a virtual dataset (its data would come from "
                                  "other files): refused", path, name);
        goto done;
    }
    if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) {
        st = CS_FAIL(CS_E_FORMAT, "%s: dataset /%s has an unknown storage layout (%d)", path, name,
                     (int)layout);
        goto done;
    }
    int next = H5Pget_external_count(dcpl);
    if (next != 0) {
        char ext[256] = "?";
        off_t off = 0;
        hsize_t sz = 0;
        if (next > 0) H5Pget_external(dcpl, 0, sizeof ext, ext, &off, &sz);
        ext[sizeof ext - 1] = 0;
        for (char *q = ext; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) *q = '?';
        st = CS_FAIL(CS_E_FORMAT, "%s: dataset /%s keeps its data in external file(s) ('%s'): refused",
                     path, name, ext);
        goto done;
    }
    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0) {
        st = CS_FAIL(CS_E_FORMAT, "%s: cannot read the filters of dataset /%s", path, name);
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, conf = 0;
        size_t nelem = 0;
        char fname[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelem, NULL, sizeof fname, fname, &conf);
        if (id != H5Z_FILTER_DEFLATE && id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32) {
            st = CS_FAIL(CS_E_FORMAT,
                         "%s: dataset /%s uses HDF5 filter %d, not one of deflate, shuffle, "
                         "fletcher32: refused",
                         path, name, (int)id);
            goto done;
        }
    }
    /* The declared size must be stored in the file: a tiny file cannot declare terabytes of fill
     * values (reading them would take hours), nor a huge shape with a few chunks written. */
    hssize_t npts = H5Sget_simple_extent_npoints(space);
    size_t tsize = H5Tget_size(type);
    if (npts < 0 || tsize == 0) {
        st = CS_FAIL(CS_E_FORMAT, "%s: dataset /%s has an unreadable shape or type", path, name);
        goto done;
    }
    double declared = (double)npts * (double)tsize;
    double stored = (double)H5Dget_storage_size(ds);
    double need = nf > 0 ? (declared - CS_H5_RATIO_SLACK) / CS_H5_MAX_RATIO : declared;
    if (layout != H5D_COMPACT && stored < need)
        st = CS_FAIL(CS_E_FORMAT,
                     "%s: dataset /%s declares %.0f bytes (%lld values) but the file stores %.0f "
                     "bytes of it: refused",
                     path, name, declared, (long long)npts, stored);
done:
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

cs_status cs_h5_open_dataset(hid_t file, const char *name, const char *path, hid_t *ds_out) {
    *ds_out = -1;
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return CS_FAIL(CS_E_FORMAT, "%s: HDF5 dataset '%s' is missing", path, name);
    H5L_info_t li;
    if (H5Lget_info(file, name, &li, H5P_DEFAULT) < 0)
        return CS_FAIL(CS_E_FORMAT, "%s: cannot read the link /%s (corrupt?)", path, name);
    if (li.type != H5L_TYPE_HARD)
        return CS_FAIL(CS_E_FORMAT, "%s: /%s is %s, not a dataset stored in this file: refused", path,
                       name,
                       li.type == H5L_TYPE_EXTERNAL ? "an external link (to another file)"
                       : li.type == H5L_TYPE_SOFT   ? "a soft link"
                                                    : "a user-defined link");
    H5O_info_t oi;
    if (H5Oget_info_by_name(file, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return CS_FAIL(CS_E_FORMAT, "%s: /%s is not a dataset", path, name);
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0) return CS_FAIL(CS_E_FORMAT, "%s: cannot open dataset /%s (corrupt?)", path, name);
    cs_status st = cs_h5_check_dataset(ds, name, path);
    if (st != CS_OK) {
        H5Dclose(ds);
        return st;
    }
    *ds_out = ds;
    return CS_OK;
}

cs_status cs_h5_dims(hid_t file, const char *name, int *rank, hsize_t dims[2], const char *path) {
    hid_t dset;
    dims[0] = dims[1] = 0;
    CS_TRY(cs_h5_open_dataset(file, name, path, &dset));
    hid_t space = H5Dget_space(dset);
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (r >= 1 && r <= 2) H5Sget_simple_extent_dims(space, dims, NULL);
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    if (r < 1 || r > 2)
        return CS_FAIL(CS_E_FORMAT, "%s: HDF5 dataset '%s' has rank %d, expected 1 or 2", path, name, r);
    *rank = r;
    return CS_OK;
}

static uint64_t cs_le_decode(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* libhdf5 1.10 loops forever on a global heap collection whose object list does not advance (an
 * object 0 of length 0), and walks off its buffer when an object runs past the collection's end
 * (found by fuzz_h5; tests/fuzz/regress/h5/gheap-loop.h5). Variable-length strings (attributes,
 * /paths, /sha256) live in such collections, so every collection in the file (signature "GCOL",
 * version 1, three zero bytes) is walked here the way HDF5 walks it, before HDF5 may load one.
 * The signature is searched in all bytes of the file (one memmem pass, a few GB/s), so raw data
 * that happens to spell it (as float32: 5.4e7 followed by the denormal 1.4e-45, which no feature
 * extractor produces) is walked too and, if it does not parse as a collection, the file is
 * refused: a false refusal, never a wrong read. */
static cs_status cs_h5_check_global_heaps(hid_t file, const char *path) {
    hid_t fcpl = H5Fget_create_plist(file);
    size_t sa = 0, ss = 0;
    herr_t e = fcpl >= 0 ? H5Pget_sizes(fcpl, &sa, &ss) : -1;
    if (fcpl >= 0) H5Pclose(fcpl);
    if (e < 0 || (ss != 2 && ss != 4 && ss != 8))
        return CS_FAIL(CS_E_FORMAT, "%s: HDF5 file with unreadable size parameters", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0) close(fd);
        return CS_FAIL(CS_E_IO, "%s: cannot reopen: %s", path, strerror(errno));
    }
    size_t n = (size_t)sb.st_size;
    if (n == 0) {
        close(fd);
        return CS_OK;
    }
    const unsigned char *b = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (b == MAP_FAILED) return CS_FAIL(CS_E_IO, "%s: cannot map: %s", path, strerror(errno));
    cs_status st = CS_OK;
    const size_t hdr = 8 + ss, objhdr = 8 + ss; /* collection header; object header */
    const unsigned char *q = memmem(b, n, "GCOL", 4);
    while (q && st == CS_OK) {
        size_t off = (size_t)(q - b);
        if (n - off >= hdr && q[4] == 1 && q[5] == 0 && q[6] == 0 && q[7] == 0) {
            uint64_t csize = cs_le_decode(q + 8, ss);
            if (csize < hdr) {
                st = CS_FAIL(CS_E_FORMAT, "%s: corrupt HDF5 global heap at byte %zu (size %llu)", path, off,
                             (unsigned long long)csize);
                break;
            }
            const unsigned char *p = q + hdr, *end = q + (csize < n - off ? csize : n - off);
            while (p < end && (size_t)(end - p) >= objhdr) {
                unsigned idx = (unsigned)p[0] | (unsigned)p[1] << 8;
                uint64_t osize = cs_le_decode(p + 8, ss), need;
                if (idx > 0) need = osize > UINT64_MAX - 16 - objhdr ? UINT64_MAX : objhdr + ((osize + 7) & ~(uint64_t)7);
                else need = osize; /* free space: its size counts its header */
                if (need == 0 || need > (uint64_t)(end - p)) {
                    st = CS_FAIL(CS_E_FORMAT, "%s: corrupt HDF5 global heap at byte %zu (object %u at byte %zu "
                                 "declares %llu bytes)", path, off, idx, (size_t)(p - b), (unsigned long long)osize);
                    break;
                }
                p += need;
            }
        }
        q = off + 1 < n ? memmem(q + 1, n - off - 1, "GCOL", 4) : NULL;
    }
    munmap((void *)b, n);
    return st;
}

cs_status cs_h5_open_file(const char *path, hid_t *file) {
    *file = -1;
    CS_TRY(cs_check_regular_file(path));
    cs_h5_quiet();
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0) return CS_FAIL(CS_E_FORMAT, "%s: not a readable HDF5 file", path);
    cs_status st = cs_h5_check_global_heaps(*file, path);
    if (st != CS_OK) {
        H5Fclose(*file);
        *file = -1;
    }
    return st;
}

cs_status cs_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return CS_FAIL(CS_E_IO, "%s: cannot open for fsync: %s", path, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    if (r != 0) return CS_FAIL(CS_E_IO, "%s: fsync failed: %s%s", path, strerror(e), cs_write_fail_note(path));
    return CS_OK;
}

cs_status cs_fsync_dir_of(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    const char *dir = dirname(tmp);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return CS_OK; /* best effort: some filesystems refuse directory fds */
    fsync(fd);
    close(fd);
    return CS_OK;
}

cs_status cs_h5_commit(hid_t *file, const char *tmp, const char *path) {
    herr_t e = H5Fclose(*file);
    *file = -1;
    if (e < 0)
        return CS_FAIL(CS_E_IO, "%s: cannot finish the HDF5 file %s%s", path, tmp, cs_write_fail_note(path));
    CS_TRY(cs_fsync_path(tmp));
    if (rename(tmp, path) != 0)
        return CS_FAIL(CS_E_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    cs_fsync_dir_of(path);
    cs_tmp_sweep_stale(path);
    return CS_OK;
}
