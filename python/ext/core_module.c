/* copyscope._core: the CPython extension under the copyscope package (python/copyscope).
 *
 * A thin layer over the C library: every function takes already-validated arguments from the
 * Python wrappers (python/copyscope/_api.py), releases the GIL while the engine works, and turns
 * a failing cs_status into copyscope.InputError (ValueError; the CLI's exit-2 class), EngineError
 * (RuntimeError) or KeyboardInterrupt (CS_E_INTERRUPTED). Arrays come in through the buffer
 * protocol without copies (C-contiguous uint8 images, float32/float64 features) and results go
 * out as a Buffer object that owns the engine's malloc'd matrix (numpy views it, no copy).
 *
 * Ctrl-C: when the caller asks for it (main thread, Python's default SIGINT handler), a SIGINT
 * handler that only sets the library's cancel flag (copyscope/cancel.h) is installed for the
 * duration of the call; the library stops between batches with CS_E_INTERRUPTED (what was
 * computed is in the feature cache, nothing is half-written), the previous handler is restored
 * and KeyboardInterrupt is raised. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "copyscope/audit.h"
#include "copyscope/cancel.h"
#include "copyscope/shapley.h"
#include "copyscope/features.h"
#include "copyscope/frechet.h"
#include "copyscope/image.h"
#include "copyscope/metrics.h"
#include "copyscope/protocol.h"
#include "copyscope/stats.h"
#include "copyscope/statsfile.h"
#include "copyscope/status.h"
#include "copyscope/weights.h"
#include "fid/fid_many.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PyObject *g_input_error;  /* copyscope.InputError(ValueError) */
static PyObject *g_engine_error; /* copyscope.EngineError(RuntimeError) */

/* ---- errors ------------------------------------------------------------------------------------ */

/* Raise the Python exception of a failed call (message: cs_last_error(), read on this thread). */
static PyObject *raise_status(cs_status st) {
    if (st == CS_E_INTERRUPTED) {
        PyErr_SetNone(PyExc_KeyboardInterrupt);
        return NULL;
    }
    PyObject *type = cs_status_exit_code(st) == 2 ? g_input_error : g_engine_error;
    const char *msg = cs_last_error();
    PyObject *exc = PyObject_CallFunction(type, "s", msg && msg[0] ? msg : cs_status_name(st));
    if (!exc) return NULL;
    PyObject *name = PyUnicode_FromString(cs_status_name(st));
    if (name) {
        PyObject_SetAttrString(exc, "status", name);
        Py_DECREF(name);
    }
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---- Ctrl-C ------------------------------------------------------------------------------------ */

static volatile sig_atomic_t g_sigint_seen;

static void on_sigint(int sig) {
    (void)sig;
    g_sigint_seen = 1;
    cs_cancel_request();
}

typedef struct call_guard {
    int installed;
    struct sigaction old;
} call_guard;

/* Before releasing the GIL: when asked (the main thread, Python's default handler), clear the
 * cancel flag and install the handler. Calls from other threads leave both alone (a Ctrl-C
 * during a main-thread call stops theirs too: the flag is process-wide). */
static void guard_begin(call_guard *g, int catch_sigint) {
    memset(g, 0, sizeof *g);
    if (!catch_sigint) return;
    cs_cancel_clear();
    g_sigint_seen = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &g->old) == 0) g->installed = 1;
}

/* After reacquiring the GIL: restore the handler; 1 when a SIGINT arrived during the call (the
 * caller raises KeyboardInterrupt even if the engine finished first, as Python would). */
static int guard_end(call_guard *g) {
    if (!g->installed) return 0;
    sigaction(SIGINT, &g->old, NULL);
    int seen = g_sigint_seen != 0;
    g_sigint_seen = 0;
    cs_cancel_clear();
    return seen;
}

/* ---- Buffer: an owned malloc'd matrix exported through the buffer protocol --------------------- */

typedef struct {
    PyObject_HEAD
    void *data; /* owned (free()) */
    int ndim;
    Py_ssize_t shape[2], strides[2], itemsize;
    char format[2]; /* "f" float32, "d" float64 */
} BufferObject;

static void buffer_dealloc(BufferObject *self) {
    free(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int buffer_getbuffer(BufferObject *self, Py_buffer *view, int flags) {
    Py_ssize_t len = self->itemsize;
    for (int i = 0; i < self->ndim; i++) len *= self->shape[i];
    view->obj = (PyObject *)self;
    Py_INCREF(self);
    view->buf = self->data;
    view->len = len;
    view->readonly = 0;
    view->itemsize = self->itemsize;
    view->format = (flags & PyBUF_FORMAT) ? self->format : NULL;
    view->ndim = self->ndim;
    view->shape = (flags & PyBUF_ND) ? self->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static PyBufferProcs buffer_procs = {(getbufferproc)buffer_getbuffer, NULL};

static PyTypeObject BufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "copyscope._core.Buffer",
    .tp_basicsize = sizeof(BufferObject),
    .tp_dealloc = (destructor)buffer_dealloc,
    .tp_as_buffer = &buffer_procs,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A matrix owned by the engine, exported through the buffer protocol (numpy views it).",
};

/* Wrap data (taken over; freed on failure) as a (rows, cols) or (rows) Buffer. */
static PyObject *buffer_new(void *data, int ndim, Py_ssize_t rows, Py_ssize_t cols, char fmt) {
    BufferObject *b = PyObject_New(BufferObject, &BufferType);
    if (!b) {
        free(data);
        return NULL;
    }
    b->data = data;
    b->ndim = ndim;
    b->itemsize = fmt == 'f' ? 4 : 8;
    b->shape[0] = rows;
    b->shape[1] = ndim > 1 ? cols : 1;
    b->strides[1] = b->itemsize;
    b->strides[0] = ndim > 1 ? cols * b->itemsize : b->itemsize;
    b->format[0] = fmt;
    b->format[1] = 0;
    return (PyObject *)b;
}

/* ---- options ----------------------------------------------------------------------------------- */

/* A string option (None -> NULL). The pointer lives as long as the dict holds the value. */
static int opt_str(PyObject *d, const char *key, const char **out) {
    PyObject *v = PyDict_GetItemString(d, key);
    *out = NULL;
    if (!v || v == Py_None) return 0;
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "option %s must be a string", key);
        return -1;
    }
    *out = PyUnicode_AsUTF8(v);
    return *out ? 0 : -1;
}

static int opt_long(PyObject *d, const char *key, long def, long *out) {
    PyObject *v = PyDict_GetItemString(d, key);
    *out = def;
    if (!v || v == Py_None) return 0;
    *out = PyLong_AsLong(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* The extraction options of a features() call (keys as the Python keywords). */
static int features_opts_from(PyObject *d, cs_features_opts *o, int *catch_sigint) {
    long v;
    cs_features_opts_default(o);
    o->quiet = 1;
    o->progress = 0;
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "options must be a dict");
        return -1;
    }
    if (opt_str(d, "weights", &o->weights_path) || opt_str(d, "device", &o->device) ||
        opt_str(d, "precision", &o->precision) || opt_str(d, "cache_dir", &o->cache_dir))
        return -1;
    const char *protocol = NULL;
    if (opt_str(d, "protocol", &protocol)) return -1;
    cs_protocol pr = CS_PROTOCOL_PYTORCH_FID;
    if (protocol && cs_protocol_parse(protocol, &pr) != CS_OK) {
        raise_status(CS_E_USAGE);
        return -1;
    }
    o->protocol = (int)pr;
    if (opt_long(d, "dims", 2048, &v)) return -1;
    o->dims = (int)v;
    if (opt_long(d, "batch_size", 50, &v)) return -1;
    o->batch = (int)v;
    if (opt_long(d, "threads", 0, &v)) return -1;
    o->threads = (int)v;
    if (opt_long(d, "use_cache", 1, &v)) return -1;
    o->use_cache = (int)v;
    if (opt_long(d, "skip_bad", 0, &v)) return -1;
    o->skip_bad = (int)v;
    if (opt_long(d, "progress", 0, &v)) return -1;
    o->progress = (int)v;
    if (opt_long(d, "catch_sigint", 0, &v)) return -1;
    *catch_sigint = (int)v;
    return 0;
}

static PyObject *str_list(char **items, size_t n) {
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *s = PyUnicode_DecodeFSDefault(items[i]);
        if (!s) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, s);
    }
    return l;
}

/* The result of an extraction as a dict (the feature matrix taken over from f). */
static PyObject *features_result(cs_features *f) {
    PyObject *data = buffer_new(f->data, 2, (Py_ssize_t)f->n, f->dims, 'f');
    f->data = NULL;
    if (!data) return NULL;
    PyObject *paths = str_list(f->paths.paths, f->paths.n);
    PyObject *skipped = str_list(f->skipped_why, f->skipped.n);
    PyObject *sha = PyList_New((Py_ssize_t)(f->sha256 ? f->n : 0));
    for (size_t i = 0; sha && f->sha256 && i < f->n; i++)
        PyList_SET_ITEM(sha, (Py_ssize_t)i, PyUnicode_FromString(f->sha256[i]));
    PyObject *r = NULL;
    if (paths && skipped && sha)
        r = Py_BuildValue("{s:O,s:n,s:i,s:O,s:O,s:O,s:s,s:n,s:n,s:s,s:s}", "data", data, "n", (Py_ssize_t)f->n,
                          "dims", f->dims, "paths", paths, "sha256", sha, "skipped", skipped, "weights_sha256",
                          f->weights_sha256, "n_from_cache", (Py_ssize_t)f->n_from_cache, "n_computed",
                          (Py_ssize_t)f->n_computed, "protocol", cs_protocol_name((cs_protocol)f->protocol),
                          "preprocessing", cs_protocol_preprocess_id((cs_protocol)f->protocol));
    Py_DECREF(data);
    Py_XDECREF(paths);
    Py_XDECREF(skipped);
    Py_XDECREF(sha);
    return r;
}

/* ---- features ---------------------------------------------------------------------------------- */

PyDoc_STRVAR(features_files_doc, "features_files(inputs: list[str], opts: dict) -> dict\n\n"
                                 "Features of image files and directories (cs_features_extract).");

static PyObject *py_features_files(PyObject *self, PyObject *args) {
    PyObject *inputs, *optd;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &inputs, &PyDict_Type, &optd)) return NULL;
    cs_features_opts o;
    int catch_sigint = 0;
    if (features_opts_from(optd, &o, &catch_sigint)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(inputs);
    const char **paths = calloc((size_t)(n ? n : 1), sizeof *paths);
    PyObject **encoded = calloc((size_t)(n ? n : 1), sizeof *encoded);
    if (!paths || !encoded) {
        free(paths);
        free(encoded);
        return PyErr_NoMemory();
    }
    PyObject *ret = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_FSConverter(PyList_GET_ITEM(inputs, i), &encoded[i])) goto out;
        paths[i] = PyBytes_AS_STRING(encoded[i]);
    }
    cs_pathlist files = {0};
    cs_features f;
    memset(&f, 0, sizeof f);
    call_guard g;
    guard_begin(&g, catch_sigint);
    cs_status st;
    Py_BEGIN_ALLOW_THREADS
    /* directories listed by the protocol's peer rule, as the CLI does (protocol.h) */
    st = cs_pathlist_expand_listing(paths, (size_t)n, cs_protocol_listing((cs_protocol)o.protocol), &files);
    if (st == CS_OK) st = cs_features_extract(&files, &o, &f);
    cs_pathlist_free(&files);
    Py_END_ALLOW_THREADS
    int interrupted = guard_end(&g);
    if (st != CS_OK) raise_status(st);
    else if (interrupted) PyErr_SetNone(PyExc_KeyboardInterrupt);
    else ret = features_result(&f);
    cs_features_free(&f);
out:
    for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(encoded[i]);
    free(encoded);
    free(paths);
    return ret;
}

PyDoc_STRVAR(features_arrays_doc,
             "features_arrays(images: list, opts: dict) -> dict\n\n"
             "Features of C-contiguous (H, W, 3) uint8 buffers (cs_features_extract_rgb), read in place.");

static PyObject *py_features_arrays(PyObject *self, PyObject *args) {
    PyObject *list, *optd;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &list, &PyDict_Type, &optd)) return NULL;
    cs_features_opts o;
    int catch_sigint = 0;
    if (features_opts_from(optd, &o, &catch_sigint)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list);
    Py_buffer *views = calloc((size_t)(n ? n : 1), sizeof *views);
    cs_image *imgs = calloc((size_t)(n ? n : 1), sizeof *imgs);
    Py_ssize_t held = 0;
    PyObject *ret = NULL;
    if (!views || !imgs) {
        PyErr_NoMemory();
        goto out;
    }
    for (; held < n; held++) {
        Py_buffer *v = &views[held];
        if (PyObject_GetBuffer(PyList_GET_ITEM(list, held), v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) goto out;
        if (v->ndim != 3 || v->shape[2] != 3 || v->itemsize != 1 || (v->format && strcmp(v->format, "B") != 0)) {
            PyBuffer_Release(v);
            PyErr_Format(g_input_error, "image %zd: expected a (H, W, 3) uint8 array", held);
            goto out;
        }
        if (v->shape[0] > INT32_MAX || v->shape[1] > INT32_MAX) {
            PyBuffer_Release(v);
            PyErr_Format(g_input_error, "image %zd: %zd x %zd pixels is too large", held, v->shape[1], v->shape[0]);
            goto out;
        }
        imgs[held].rgb = v->buf;
        imgs[held].height = (int)v->shape[0];
        imgs[held].width = (int)v->shape[1];
    }
    cs_features f;
    memset(&f, 0, sizeof f);
    call_guard g;
    guard_begin(&g, catch_sigint);
    cs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = cs_features_extract_rgb(imgs, (size_t)n, &o, &f);
    Py_END_ALLOW_THREADS
    int interrupted = guard_end(&g);
    if (st != CS_OK) raise_status(st);
    else if (interrupted) PyErr_SetNone(PyExc_KeyboardInterrupt);
    else ret = features_result(&f);
    cs_features_free(&f);
out:
    for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    free(views);
    free(imgs);
    return ret;
}

/* ---- sets (one side of fid, stats, kid) -------------------------------------------------------- */

/* One side, as `copyscope fid` loads it (host/cli/cmd_fid.c, cs_fid_load_input with want_rows 1):
 * statistics, plus the feature rows when the set has at most d of them (the low-rank methods). */
typedef struct side {
    const char *label;
    cs_stats *stats;    /* owned */
    const float *x;     /* (n, d) float32 rows or NULL: into view or rows */
    cs_features rows;   /* rows read from an HDF5 features file (owned) */
    Py_buffer view;     /* rows from the caller (held) */
    Py_buffer view2;    /* second array of a (mu, sigma) pair (held) */
    int has_view, has_view2;
    int64_t n;          /* samples (0 when unknown) */
    int d;
    PyObject *encoded;  /* the path as bytes */
} side;

static void side_free(side *s) {
    cs_stats_free(s->stats);
    cs_features_free(&s->rows);
    if (s->has_view) PyBuffer_Release(&s->view);
    if (s->has_view2) PyBuffer_Release(&s->view2);
    Py_XDECREF(s->encoded);
    memset(s, 0, sizeof *s);
}

/* Parse a side spec (with the GIL): ("path", str), ("rows", float32 (n, d), weights_sha256 or ""),
 * ("rows64", float64 (n, d)), ("meancov", float64 (d), float64 (d, d)). Nothing is computed yet. */
static int side_parse(PyObject *spec, const char *label, side *s, char *kind) {
    memset(s, 0, sizeof *s);
    s->label = label;
    const char *k;
    PyObject *a = NULL, *b = NULL, *c = NULL;
    if (!PyArg_ParseTuple(spec, "s|OOO", &k, &a, &b, &c)) return -1;
    *kind = k[0] == 'p' ? 'p' : strcmp(k, "rows") == 0 ? 'r' : strcmp(k, "rows64") == 0 ? 'R' : 'm';
    if (*kind == 'p') {
        if (!a || !PyUnicode_FSConverter(a, &s->encoded)) return -1;
        s->label = PyBytes_AS_STRING(s->encoded);
        return 0;
    }
    if (!a || PyObject_GetBuffer(a, &s->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return -1;
    s->has_view = 1;
    const char *want = *kind == 'r' ? "f" : "d";
    const int want_ndim = *kind == 'm' ? 1 : 2;
    if (s->view.ndim != want_ndim || !s->view.format || strcmp(s->view.format, want) != 0) {
        PyErr_Format(g_input_error, "%s: expected a %dD %s array", label, want_ndim, *kind == 'r' ? "float32" : "float64");
        return -1;
    }
    if (*kind == 'm') {
        if (!b || PyObject_GetBuffer(b, &s->view2, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return -1;
        s->has_view2 = 1;
        const Py_ssize_t d = s->view.shape[0];
        if (s->view2.ndim != 2 || !s->view2.format || strcmp(s->view2.format, "d") != 0 || s->view2.shape[0] != d ||
            s->view2.shape[1] != d) {
            PyErr_Format(g_input_error, "%s: sigma must be a (%zd, %zd) float64 array like mu (%zd)", label, d, d, d);
            return -1;
        }
        if (d < 1 || d > CS_STATS_MAX_DIMS) {
            PyErr_Format(g_input_error, "%s: %zd dimensions (1..%d)", label, d, CS_STATS_MAX_DIMS);
            return -1;
        }
        s->d = (int)d;
        return 0;
    }
    if (s->view.shape[1] < 1 || s->view.shape[1] > CS_STATS_MAX_DIMS) {
        PyErr_Format(g_input_error, "%s: %zd feature dimensions (1..%d)", label, s->view.shape[1], CS_STATS_MAX_DIMS);
        return -1;
    }
    s->n = s->view.shape[0];
    s->d = (int)s->view.shape[1];
    if (*kind == 'r' && b && PyUnicode_Check(b)) { /* the extractor identity of copyscope features */
        const char *sha = PyUnicode_AsUTF8(b);
        if (!sha) return -1;
        snprintf(s->rows.weights_sha256, sizeof s->rows.weights_sha256, "%s", sha); /* the identity, kept here */
        cs_protocol pr = CS_PROTOCOL_PYTORCH_FID;
        if (c && PyUnicode_Check(c) && cs_protocol_parse(PyUnicode_AsUTF8(c), &pr) != CS_OK) {
            raise_status(CS_E_USAGE);
            return -1;
        }
        s->rows.protocol = (int)pr;
    }
    return 0;
}

/* Load/compute the side (GIL released): statistics, and rows when n <= d (want_rows 1) or
 * always (want_rows 2). */
static cs_status side_load(side *s, char kind, int want_rows) {
    cs_status st = CS_OK;
    if (kind == 'p') {
        const char *path = s->label;
        cs_file_kind fk;
        if ((st = cs_file_kind_detect(path, &fk)) != CS_OK) return st;
        switch (fk) {
        case CS_FILE_NPZ: st = cs_npz_read_stats(path, &s->stats); break;
        case CS_FILE_H5_STATS: st = cs_h5_read_stats(path, &s->stats); break;
        case CS_FILE_H5_FEATURES: {
            cs_extractor_id id;
            st = cs_features_file_info(path, &s->n, &s->d, &id);
            if (st != CS_OK) return st;
            if (want_rows == 2 || (want_rows == 1 && s->n <= s->d)) {
                if ((st = cs_features_file_read(path, 0, &s->rows)) != CS_OK) return st;
                s->x = s->rows.data;
                if ((st = cs_stats_init(&s->stats, s->d)) != CS_OK) return st;
                s->stats->id = id;
                st = cs_stats_add_f32(s->stats, s->x, s->n);
                if (st != CS_OK) return CS_FAIL(st, "%s: %s", path, cs_last_error());
            } else {
                st = cs_features_file_stats(path, &s->stats);
            }
            break;
        }
        case CS_FILE_DIRECTORY: return CS_FAIL(CS_E_USAGE, "%s: a directory here (internal: extract it first)", path);
        default: return CS_FAIL(CS_E_FORMAT, "%s: unknown input kind", path);
        }
        if (st != CS_OK) return st;
        s->n = s->stats->cov_only ? 0 : s->stats->n;
        s->d = s->stats->d;
        return CS_OK;
    }
    if (kind == 'm') {
        st = cs_stats_from_mean_cov(s->d, s->view.buf, s->view2.buf, &s->stats);
        if (st == CS_OK) st = cs_stats_validate(s->stats, s->label);
        s->n = 0;
        return st;
    }
    if ((st = cs_stats_init(&s->stats, s->d)) != CS_OK) return st;
    if (kind == 'r') {
        if (s->rows.weights_sha256[0]) {
            snprintf(s->stats->id.weights_sha256, sizeof s->stats->id.weights_sha256, "%s", s->rows.weights_sha256);
            snprintf(s->stats->id.preprocessing, sizeof s->stats->id.preprocessing, "%s",
                     cs_protocol_preprocess_id((cs_protocol)s->rows.protocol));
        }
        st = cs_stats_add_f32(s->stats, s->view.buf, s->n);
        if (st == CS_OK && (want_rows == 2 || (want_rows == 1 && s->n <= s->d))) s->x = s->view.buf;
    } else {
        st = cs_stats_add_f64(s->stats, s->view.buf, s->n);
    }
    /* non-finite rows given by the caller are bad input (the CLI's exit-2 class), not a failure */
    if (st != CS_OK) return CS_FAIL(st == CS_E_NUMERIC ? CS_E_FORMAT : st, "%s: %s", s->label, cs_last_error());
    return CS_OK;
}

/* ---- fid ----------------------------------------------------------------------------------------- */

/* cmd_fid.c's text of one warning (the not-PSD ones say how much was clamped). */
static void warning_text(const cs_fid_result *r, unsigned bit, char *out, size_t cap) {
    int which = bit == CS_FID_WARN_NOT_PSD1 ? 0 : bit == CS_FID_WARN_NOT_PSD2 ? 1 : -1;
    if (which >= 0 && r->clamped[which] > 0.0)
        snprintf(out, cap, "set %d: covariance has negative eigenvalues (clamped to 0; the most "
                           "negative was -%.3g of the largest)", which + 1, r->clamped[which]);
    else
        snprintf(out, cap, "%s", cs_fid_warning_text(bit));
}

static cs_fid_set side_set(const side *s) {
    cs_fid_set set = {.label = s->label, .stats = s->stats, .x = s->x, .n = s->n, .d = s->d, .id = s->stats->id};
    return set;
}

PyDoc_STRVAR(fid_doc, "fid(a: tuple, b: tuple, method: str, device: str | None, threads: int) -> dict\n\n"
                      "FID between two sides, with `copyscope fid A B`'s method rule (host/fid/fid_many.h).");

static PyObject *py_fid(PyObject *self, PyObject *args) {
    PyObject *sa, *sb;
    const char *method_name, *device;
    int threads;
    if (!PyArg_ParseTuple(args, "O!O!szi", &PyTuple_Type, &sa, &PyTuple_Type, &sb, &method_name, &device, &threads))
        return NULL;
    cs_fid_method method;
    if (cs_fid_method_parse(method_name, &method) != CS_OK) return raise_status(CS_E_USAGE);
    side s[2];
    char kind[2];
    memset(s, 0, sizeof s);
    PyObject *ret = NULL;
    if (side_parse(sa, "set 1", &s[0], &kind[0]) || side_parse(sb, "set 2", &s[1], &kind[1])) goto out;
    const int want_rows = method == CS_FID_LOWRANK ? 2 : method == CS_FID_AUTO ? 1 : 0;
    cs_fid_result res;
    memset(&res, 0, sizeof res);
    char math_device[128] = "";
    cs_status st;
    Py_BEGIN_ALLOW_THREADS
    cs_math *mb = NULL;
    cs_fid_engine *eng = NULL;
    st = side_load(&s[0], kind[0], want_rows);
    if (st == CS_OK) st = side_load(&s[1], kind[1], want_rows);
    for (int i = 0; i < 2 && st == CS_OK; i++) /* cmd_fid.c's cs_fid_check_loaded */
        if (!s[i].stats->cov_only && s[i].n < 2)
            st = CS_FAIL(CS_E_USAGE, "%s: has %lld sample%s; the FID needs at least 2", s[i].label,
                         (long long)s[i].n, s[i].n == 1 ? "" : "s");
    if (st == CS_OK && s[0].d != s[1].d)
        st = CS_FAIL(CS_E_MISMATCH, "%s has %d-dimensional features, %s has %d", s[0].label, s[0].d, s[1].label, s[1].d);
    if (st == CS_OK) st = cs_math_for_fid(device, method, threads, &mb);
    if (st == CS_OK) {
        cs_fid_set ref = side_set(&s[0]), other = side_set(&s[1]);
        cs_fid_many_opts fo = {.method = method, .n_sets = 1, .rows_ref = 1};
        st = cs_fid_engine_create(mb, &ref, &fo, &eng);
        size_t bad = 0;
        if (st == CS_OK) st = cs_fid_engine_compare_many(eng, &other, 1, &res, &bad);
        snprintf(math_device, sizeof math_device, "%s", mb->iface->device_name(mb));
    }
    cs_fid_engine_free(eng);
    cs_math_free(mb);
    Py_END_ALLOW_THREADS
    if (st != CS_OK) {
        raise_status(st);
        goto out;
    }
    PyObject *warnings = PyList_New(0);
    char text[256];
    for (unsigned bit = 0; warnings && bit < CS_FID_WARN_COUNT; bit++)
        if (res.warnings & (1u << bit)) {
            warning_text(&res, 1u << bit, text, sizeof text);
            PyObject *t = PyUnicode_FromString(text);
            if (!t || PyList_Append(warnings, t) != 0) Py_CLEAR(warnings);
            Py_XDECREF(t);
        }
    if (warnings)
        ret = Py_BuildValue("{s:d,s:d,s:d,s:d,s:d,s:s,s:O,s:L,s:L,s:i,s:s}", "fid", res.fid, "mean_term",
                            res.mean_term, "trace1", res.trace1, "trace2", res.trace2, "trace_sqrt", res.trace_sqrt,
                            "method", res.method ? res.method : "", "warnings", warnings, "n1", (long long)s[0].n, "n2",
                            (long long)s[1].n, "dims", s[0].d, "math_device", math_device);
    Py_XDECREF(warnings);
out:
    side_free(&s[0]);
    side_free(&s[1]);
    return ret;
}

/* ---- stats --------------------------------------------------------------------------------------- */

PyDoc_STRVAR(stats_doc, "stats(a: tuple) -> dict\n\nMean (d) and covariance (d, d) float64 of one side.");

static PyObject *py_stats(PyObject *self, PyObject *args) {
    PyObject *sa;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &sa)) return NULL;
    side s;
    char kind;
    PyObject *ret = NULL;
    if (side_parse(sa, "input", &s, &kind)) goto out;
    double *mu = NULL, *cov = NULL;
    cs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = side_load(&s, kind, 0);
    if (st == CS_OK && !s.stats->cov_only && s.n < 2)
        st = CS_FAIL(CS_E_USAGE, "%s: has %lld sample%s; a covariance needs at least 2", s.label, (long long)s.n,
                     s.n == 1 ? "" : "s");
    if (st == CS_OK) {
        const size_t d = (size_t)s.d;
        mu = malloc(d * sizeof *mu);      /* (d) float64 */
        cov = malloc(d * d * sizeof *cov); /* (d, d) float64 */
        if (!mu || !cov) st = CS_FAIL(CS_E_NOMEM, "out of memory for %zu x %zu statistics", d, d);
        else {
            memcpy(mu, s.stats->mean, d * sizeof *mu);
            st = cs_stats_covariance(s.stats, cov);
        }
    }
    Py_END_ALLOW_THREADS
    if (st != CS_OK) {
        free(mu);
        free(cov);
        raise_status(st);
        goto out;
    }
    PyObject *bm = buffer_new(mu, 1, s.d, 0, 'd');
    PyObject *bc = bm ? buffer_new(cov, 2, s.d, s.d, 'd') : (free(cov), NULL);
    if (bm && bc) ret = Py_BuildValue("{s:O,s:O,s:L}", "mu", bm, "sigma", bc, "n", (long long)s.n);
    Py_XDECREF(bm);
    Py_XDECREF(bc);
out:
    side_free(&s);
    return ret;
}

/* ---- kid ----------------------------------------------------------------------------------------- */

PyDoc_STRVAR(kid_doc, "kid(x: float32 (n1, d), y: float32 (n2, d), n_subsets: int, subset_size: int, seed: int) -> dict\n\n"
                      "Kernel Inception Distance (cs_kid_compute), as `copyscope metrics`.");

static PyObject *py_kid(PyObject *self, PyObject *args) {
    PyObject *ox, *oy;
    int n_subsets;
    long long subset_size;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OOiLK", &ox, &oy, &n_subsets, &subset_size, &seed)) return NULL;
    Py_buffer vx, vy;
    if (PyObject_GetBuffer(ox, &vx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return NULL;
    if (PyObject_GetBuffer(oy, &vy, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        PyBuffer_Release(&vx);
        return NULL;
    }
    PyObject *ret = NULL;
    if (vx.ndim != 2 || vy.ndim != 2 || !vx.format || !vy.format || strcmp(vx.format, "f") || strcmp(vy.format, "f") ||
        vx.shape[1] != vy.shape[1] || vx.shape[1] < 1 || vx.shape[1] > CS_STATS_MAX_DIMS) {
        PyErr_SetString(g_input_error, "kid: both sets must be float32 (n, d) features of the same d");
        goto out;
    }
    cs_kid_opts ko;
    cs_kid_opts_default(&ko);
    if (n_subsets > 0) ko.n_subsets = n_subsets;
    if (subset_size > 0) ko.subset_size = subset_size;
    ko.seed = seed;
    cs_kid_result kr;
    cs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = cs_kid_compute(vx.buf, vx.shape[0], vy.buf, vy.shape[0], (int)vx.shape[1], &ko, &kr, NULL);
    Py_END_ALLOW_THREADS
    if (st != CS_OK) raise_status(st == CS_E_NUMERIC ? CS_E_FORMAT : st);
    else
        ret = Py_BuildValue("{s:d,s:d,s:i,s:L}", "kid", kr.kid, "kid_std", kr.kid_std, "n_subsets", kr.n_subsets,
                            "subset_size", (long long)kr.subset_size);
out:
    PyBuffer_Release(&vx);
    PyBuffer_Release(&vy);
    return ret;
}


/* ---- isc ----------------------------------------------------------------------------------------- */

PyDoc_STRVAR(isc_doc, "isc(x: float32 (n, 2048), weights: str | None, splits: int, shuffle: int, seed: int) -> dict\n\n"
                      "Inception Score of pool3 features (cs_isc_from_features), as `copyscope isc`.");

static PyObject *py_isc(PyObject *self, PyObject *args) {
    PyObject *ox;
    const char *weights;
    int splits, shuffle;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OziiK", &ox, &weights, &splits, &shuffle, &seed)) return NULL;
    if (seed > 0xffffffffULL) {
        PyErr_Format(g_input_error, "seed must be 0 .. 2^32-1 (got %llu)", seed);
        return NULL;
    }
    Py_buffer v;
    if (PyObject_GetBuffer(ox, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return NULL;
    PyObject *ret = NULL;
    if (v.ndim != 2 || !v.format || strcmp(v.format, "f") != 0) {
        PyErr_SetString(g_input_error, "isc: expected float32 (n, 2048) pool3 features");
        PyBuffer_Release(&v);
        return NULL;
    }
    cs_isc_opts io;
    cs_isc_opts_default(&io);
    if (splits > 0) io.splits = splits;
    io.shuffle = shuffle;
    io.seed = (uint32_t)seed;
    cs_isc_result r;
    cs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = cs_isc_from_features(v.buf, v.shape[0], (int)v.shape[1], weights, &io, &r);
    Py_END_ALLOW_THREADS
    if (st != CS_OK) raise_status(st);
    else ret = Py_BuildValue("{s:d,s:d,s:i,s:L}", "isc", r.isc, "isc_std", r.isc_std, "splits", r.splits, "n", (long long)r.n);
    PyBuffer_Release(&v);
    return ret;
}

/* ---- shapley ------------------------------------------------------------------------------------- */

PyDoc_STRVAR(utility_column_doc, "utility_column(utility: str) -> str\n\nThe table column a utility reads.");

static PyObject *py_utility_column(PyObject *self, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    cs_utility_spec u;
    if (cs_utility_parse(name, &u) != CS_OK) return raise_status(CS_E_USAGE);
    return PyUnicode_FromString(u.kind == CS_UTILITY_RAW ? "utility" : u.metric);
}

static PyObject *double_list(const double *v, int n) {
    if (!v) Py_RETURN_NONE;
    PyObject *l = PyList_New(n);
    for (int i = 0; l && i < n; i++) {
        PyObject *f = PyFloat_FromDouble(v[i]);
        if (!f) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, f);
    }
    return l;
}

PyDoc_STRVAR(shapley_doc,
             "shapley(name: str, text: str | None, baseline: str | None, estimator: str, utility: str, seed: int,\n"
             "        max_samples: int) -> dict\n\n"
             "Attribution of a coalition table (a CSV file `name`, or CSV `text`), as `copyscope shapley`.");

static PyObject *py_shapley(PyObject *self, PyObject *args) {
    const char *name, *text, *baseline, *est_name, *utility;
    Py_ssize_t text_len = 0;
    unsigned long long seed;
    Py_ssize_t max_samples;
    if (!PyArg_ParseTuple(args, "sz#zssKn", &name, &text, &text_len, &baseline, &est_name, &utility, &seed, &max_samples))
        return NULL;
    cs_estimator est;
    if (!cs_estimator_parse(est_name, &est)) {
        PyErr_Format(g_input_error, "unknown estimator '%s' (exact, loo, banzhaf, kernelshap, permutation, paper)",
                     est_name);
        return NULL;
    }
    cs_utility_spec u;
    if (cs_utility_parse(utility, &u) != CS_OK) return raise_status(CS_E_USAGE);
    if (max_samples < 0 || max_samples > 100000000) {
        PyErr_Format(g_input_error, "max_samples must be 0 (default) or 2..100000000 (got %zd)", max_samples);
        return NULL;
    }
    cs_table_options topt = {.baseline = baseline,
                             .max_players = (est == CS_EST_EXACT || est == CS_EST_BANZHAF) ? CS_GAME_MAX_FULL
                                                                                          : CS_GAME_MAX_PLAYERS};
    cs_permutation_options popt = {.seed = seed, .max_samples = (size_t)max_samples,
                                   .stop_on_missing = est == CS_EST_PERMUTATION};
    cs_coalition_table *t = NULL;
    cs_game *g = NULL;
    cs_attribution a;
    memset(&a, 0, sizeof a);
    PyObject *ret = NULL;
    char uname[32] = "";
    cs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = text ? cs_coalition_table_parse(name, text, (size_t)text_len, &topt, &t) : cs_coalition_table_read(name, &topt, &t);
    /* cmd_shapley.c's rule: the utility must read the table's value column */
    if (st == CS_OK && (t->is_metric ? strcmp(u.metric, t->column) != 0 : u.kind != CS_UTILITY_RAW))
        st = CS_FAIL(CS_E_USAGE, "%s has a '%s' column; utility %s needs %s", name, t->column, utility,
                     u.kind == CS_UTILITY_RAW ? "a 'utility' column" : "a column of that metric");
    if (st == CS_OK) st = cs_coalition_table_game(t, u.kind, &g);
    if (st == CS_OK) st = cs_attribute(g, est, &popt, &a);
    if (st == CS_OK) cs_utility_format(&u, uname, sizeof uname);
    Py_END_ALLOW_THREADS
    if (st != CS_OK) {
        raise_status(st);
        goto out;
    }
    PyObject *players = PyList_New(a.n);
    for (int i = 0; players && i < a.n; i++) {
        PyObject *pn = PyUnicode_FromString(cs_game_player_name(g, i));
        if (!pn) Py_CLEAR(players);
        else PyList_SET_ITEM(players, i, pn);
    }
    PyObject *vals = double_list(a.values, a.n), *norm = double_list(a.normalized, a.n),
             *se = double_list(a.std_error, a.n);
    if (players && vals && norm && se)
        ret = Py_BuildValue("{s:O,s:O,s:O,s:O,s:d,s:s,s:s,s:n,s:s}", "players", players, "values", vals, "normalized",
                            norm, "std_error", se, "efficiency_gap", a.efficiency_gap, "estimator",
                            cs_estimator_name(a.estimator), "utility", uname, "n_samples", (Py_ssize_t)a.n_samples,
                            "note", a.note);
    Py_XDECREF(players);
    Py_XDECREF(vals);
    Py_XDECREF(norm);
    Py_XDECREF(se);
out:
    cs_attribution_free(&a);
    cs_game_free(g);
    cs_coalition_table_free(t);
    return ret;
}

/* ---- audit --------------------------------------------------------------------------------------- */

PyDoc_STRVAR(audit_doc,
             "audit(path: str, text: str | None, base_dir: str, opts: dict, out_dir: str | None) -> str\n\n"
             "Run an audit (a manifest file, or manifest JSON text with relative paths from base_dir);\n"
             "returns report.json's text; writes the reports into out_dir when given.");

static PyObject *py_audit(PyObject *self, PyObject *args) {
    const char *path, *text, *base_dir, *out_dir;
    Py_ssize_t text_len = 0;
    PyObject *optd;
    if (!PyArg_ParseTuple(args, "sz#sO!z", &path, &text, &text_len, &base_dir, &PyDict_Type, &optd, &out_dir))
        return NULL;
    cs_audit_options o;
    cs_audit_options_default(&o);
    int catch_sigint = 0;
    if (features_opts_from(optd, &o.features, &catch_sigint)) return NULL;
    long dims = 0, bootstrap = -1, threads = 0;
    const char *est_name = NULL, *utility = NULL;
    PyObject *seed_obj = PyDict_GetItemString(optd, "seed");
    if (opt_long(optd, "dims_given", 0, &dims) || opt_long(optd, "bootstrap", -1, &bootstrap) ||
        opt_long(optd, "threads", 0, &threads) || opt_str(optd, "estimator", &est_name) ||
        opt_str(optd, "utility", &utility))
        return NULL;
    int has_seed = seed_obj && seed_obj != Py_None;
    unsigned long long seed = has_seed ? PyLong_AsUnsignedLongLong(seed_obj) : 0;
    if (has_seed && PyErr_Occurred()) return NULL;
    cs_audit_manifest *m = NULL;
    cs_audit *a = NULL;
    char *json = NULL;
    cs_status st;
    call_guard g;
    guard_begin(&g, catch_sigint);
    Py_BEGIN_ALLOW_THREADS
    st = text ? cs_audit_manifest_parse(path, base_dir, text, (size_t)text_len, &m) : cs_audit_manifest_read(path, &m);
    if (st == CS_OK) { /* cmd_audit.c's rule: the caller's options first, then the manifest's */
        if (!dims && m->dims) o.features.dims = m->dims;
        o.bootstrap = bootstrap >= 0 ? (int)bootstrap : m->bootstrap;
        o.seed = has_seed ? seed : m->has_seed ? m->seed : o.seed;
        o.threads = (int)threads;
        const char *e = est_name ? est_name : m->estimator;
        const char *u = utility ? utility : m->utility;
        cs_estimator est;
        if (e && !cs_estimator_parse(e, &est)) st = CS_FAIL(CS_E_USAGE, "estimator: unknown estimator '%s'", e);
        else if (e) o.estimator = (int)est;
        if (st == CS_OK && u && (!strcmp(u, "fid-inf") || !strcmp(u, "fid-inf-gain"))) {
            o.fid_inf = 1;
            u = "fid-gain";
        }
        if (st == CS_OK && u) {
            if (cs_utility_parse(u, &o.utility) != CS_OK) st = CS_E_USAGE;
            else if (o.utility.kind == CS_UTILITY_RAW)
                st = CS_FAIL(CS_E_USAGE, "utility: raw needs a table (copyscope.shapley)");
        }
    }
    if (st == CS_OK) st = cs_audit_run(m, &o, &a);
    if (st == CS_OK && out_dir) st = cs_audit_write_reports(a, out_dir);
    if (st == CS_OK) st = cs_audit_report_json(a, &json);
    cs_audit_free(a);
    cs_audit_manifest_free(m);
    Py_END_ALLOW_THREADS
    int interrupted = guard_end(&g);
    PyObject *ret = NULL;
    if (st != CS_OK) raise_status(st);
    else if (interrupted) PyErr_SetNone(PyExc_KeyboardInterrupt);
    else ret = PyUnicode_FromString(json);
    free(json);
    return ret;
}

/* ---- module -------------------------------------------------------------------------------------- */

static PyMethodDef core_methods[] = {
    {"features_files", py_features_files, METH_VARARGS, features_files_doc},
    {"features_arrays", py_features_arrays, METH_VARARGS, features_arrays_doc},
    {"fid", py_fid, METH_VARARGS, fid_doc},
    {"stats", py_stats, METH_VARARGS, stats_doc},
    {"kid", py_kid, METH_VARARGS, kid_doc},
    {"isc", py_isc, METH_VARARGS, isc_doc},
    {"utility_column", py_utility_column, METH_VARARGS, utility_column_doc},
    {"shapley", py_shapley, METH_VARARGS, shapley_doc},
    {"audit", py_audit, METH_VARARGS, audit_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {PyModuleDef_HEAD_INIT, "copyscope._core",
                                         "The copyscope C engine (use the copyscope package, not this module).", -1,
                                         core_methods};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&BufferType) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m) return NULL;
    g_input_error = PyErr_NewExceptionWithDoc(
        "copyscope.InputError",
        "Bad input (the CLI's exit-2 class): a missing, corrupt or truncated file, a bad option, a wrong array. "
        "The message names the file and the problem; .status is the engine's status name.",
        PyExc_ValueError, NULL);
    g_engine_error = PyErr_NewExceptionWithDoc(
        "copyscope.EngineError",
        "A runtime failure of the engine (the CLI's exit-1 class): I/O, memory, numerics, device.",
        PyExc_RuntimeError, NULL);
    if (!g_input_error || !g_engine_error || PyModule_AddObjectRef(m, "InputError", g_input_error) < 0 ||
        PyModule_AddObjectRef(m, "EngineError", g_engine_error) < 0 ||
        PyModule_AddObjectRef(m, "Buffer", (PyObject *)&BufferType) < 0 ||
        PyModule_AddStringConstant(m, "OFFICIAL_WEIGHTS_SHA256", CS_WEIGHTS_OFFICIAL_SHA256) < 0 ||
        PyModule_AddStringConstant(m, "PREPROCESS_ID", CS_PREPROCESS_ID) < 0 ||
        PyModule_AddStringConstant(m, "VERSION", COPYSCOPE_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
