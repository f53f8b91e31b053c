/* FID Inception weights loader: torch legacy and zip formats through the restricted pickle
 * interpreter (pickle.c), validation against the expected tensor table, discovery.
 *
 * Flow: read the file -> SHA-256 -> detect format -> pickles -> tensor table (names, shapes,
 * storages, views checked against their storages) -> [truncation] -> [expected model] -> data.
 * All tensor data is copied into one float32 block and one int64 block. */
#include "copyscope/weights.h"

#include "core/common.h"
#include "net/inception_arch.h"
#include "io/pickle.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the weights loader reads little-endian data in place; port it for big-endian hosts"
#endif

#define CS_WEIGHTS_MAX_FILE ((size_t)5 << 30)  /* 5 GiB: Inception is 95.6 MB, DINOv2 ViT-g/14 4.5 GB */
#define CS_WEIGHTS_MAX_PKL ((size_t)1 << 26)   /* 64 MiB data.pkl (official: 68 KB) */
#define CS_WEIGHTS_MAX_TENSORS 100000
#define CS_WEIGHTS_MAX_NAME 1024
#define CS_WEIGHTS_MAX_NUMEL ((int64_t)1 << 40)

typedef struct cs_wt {
    const char *name;  /* into names */
    int ndim;
    int64_t shape[CS_WEIGHTS_MAX_NDIM];
    int64_t stride[CS_WEIGHTS_MAX_NDIM];
    int64_t offset;    /* in elements, into the storage */
    int dtype;         /* cs_pk_dtype */
    uint32_t storage;  /* index into st */
    size_t numel;
    float *f;          /* (numel) float32 inside fdata, or NULL */
    int64_t *i;        /* (numel) int64 inside idata, or NULL */
} cs_wt;

typedef struct cs_wst {
    const char *key;   /* into the file buffer (legacy) or data.pkl (zip); valid during load only */
    size_t key_len;
    int dtype;
    int64_t numel;
    uint64_t data_off; /* legacy: file offset of the first element */
    int listed;        /* legacy: seen in the storage key list */
    int64_t zip_index; /* zip: entry index of <prefix>/data/<key> */
} cs_wst;

struct cs_weights {
    char *path;
    cs_weights_format format;
    int long_size;
    char sha256[65];
    char format_desc[48];
    uint64_t file_size, implied_size;
    size_t n;
    cs_wt *t;          /* (n) in file order */
    size_t *by_name;   /* (n) indices sorted by name */
    char *names;       /* all names, NUL-terminated */
    size_t nst;
    cs_wst *st;        /* (nst) sorted by key */
    float *fdata;      /* (param_count) float32 */
    int64_t *idata;    /* int64 buffers */
    uint64_t param_count;
    int has_data;
};

/* ---- the expected table --------------------------------------------------------------------- */

#define CS_EXPECTED_NAME_MAX 64

typedef struct cs_expected {
    char name[CS_EXPECTED_NAME_MAX];
    int ndim;
    int64_t shape[CS_WEIGHTS_MAX_NDIM];
    int is_int64;
} cs_expected;

static cs_expected g_expected[CS_WEIGHTS_TENSOR_COUNT];
static uint64_t g_expected_params;
static pthread_once_t g_expected_once = PTHREAD_ONCE_INIT;

static int cs_expected_cmp(const void *a, const void *b) {
    return strcmp(((const cs_expected *)a)->name, ((const cs_expected *)b)->name);
}

static void cs_expected_add(size_t *k, const char *mod, const char *suffix, int ndim, int64_t d0,
                            int64_t d1, int64_t d2, int64_t d3) {
    cs_expected *e = &g_expected[*k];
    int len = snprintf(e->name, sizeof e->name, "%s.%s", mod, suffix);
    CS_ASSERT(len > 0 && len < CS_EXPECTED_NAME_MAX);
    e->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    memcpy(e->shape, d, sizeof d);
    e->is_int64 = strstr(suffix, "num_batches_tracked") != NULL;
    if (!e->is_int64) {
        uint64_t numel = 1;
        for (int i = 0; i < ndim; i++) numel *= (uint64_t)d[i];
        g_expected_params += numel;
    }
    (*k)++;
}

static void cs_expected_build(void) {
    size_t k = 0;
    for (int c = 0; c < CS_INCEPTION_NUM_CONVS; c++) {
        const cs_conv_spec *s = &cs_inception_convs[c];
        cs_expected_add(&k, s->name, "conv.weight", 4, s->cout, s->cin, s->kh, s->kw);
        cs_expected_add(&k, s->name, "bn.weight", 1, s->cout, 0, 0, 0);
        cs_expected_add(&k, s->name, "bn.bias", 1, s->cout, 0, 0, 0);
        cs_expected_add(&k, s->name, "bn.running_mean", 1, s->cout, 0, 0, 0);
        cs_expected_add(&k, s->name, "bn.running_var", 1, s->cout, 0, 0, 0);
        cs_expected_add(&k, s->name, "bn.num_batches_tracked", 0, 0, 0, 0, 0);
    }
    cs_expected_add(&k, "fc", "weight", 2, CS_INCEPTION_FC_OUT, CS_INCEPTION_FC_IN, 0, 0);
    cs_expected_add(&k, "fc", "bias", 1, CS_INCEPTION_FC_OUT, 0, 0, 0);
    CS_ASSERT(k == CS_WEIGHTS_TENSOR_COUNT);
    qsort(g_expected, k, sizeof g_expected[0], cs_expected_cmp);
}

static const cs_expected *cs_expected_table(void) {
    pthread_once(&g_expected_once, cs_expected_build);
    return g_expected;
}

size_t cs_weights_expected_count(void) { return CS_WEIGHTS_TENSOR_COUNT; }

const char *cs_weights_expected_name(size_t i) {
    return i < CS_WEIGHTS_TENSOR_COUNT ? cs_expected_table()[i].name : NULL;
}

int cs_weights_expected_shape(size_t i, int64_t shape[CS_WEIGHTS_MAX_NDIM]) {
    if (i >= CS_WEIGHTS_TENSOR_COUNT) return -1;
    const cs_expected *e = &cs_expected_table()[i];
    memcpy(shape, e->shape, sizeof e->shape);
    return e->ndim;
}

int cs_weights_expected_is_int64(size_t i) {
    return i < CS_WEIGHTS_TENSOR_COUNT ? cs_expected_table()[i].is_int64 : 0;
}

uint64_t cs_weights_expected_param_count(void) {
    cs_expected_table();
    return g_expected_params;
}

static const cs_expected *cs_expected_find(const char *name) {
    cs_expected key;
    if (strlen(name) >= sizeof key.name) return NULL;
    strcpy(key.name, name);
    return bsearch(&key, cs_expected_table(), CS_WEIGHTS_TENSOR_COUNT, sizeof key, cs_expected_cmp);
}

/* ---- small helpers -------------------------------------------------------------------------- */

static void cs_shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < size) snprintf(buf + k, size - k, ")");
}

/* A printable, bounded copy of a possibly hostile string for messages. */
static void cs_printable(char *dst, size_t size, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < size; i++) dst[k++] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    if (n > 0 && k + 4 >= size && size > 4) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = 0;
}

static int cs_key_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static const char *cs_pk_type_name(int type) {
    switch (type) {
    case CS_PK_NONE: return "None";
    case CS_PK_BOOL: return "bool";
    case CS_PK_INT:
    case CS_PK_BIGINT: return "int";
    case CS_PK_FLOAT: return "float";
    case CS_PK_STR: return "str";
    case CS_PK_BYTES: return "bytes";
    case CS_PK_TUPLE: return "tuple";
    case CS_PK_LIST: return "list";
    case CS_PK_DICT: return "dict";
    case CS_PK_GLOBAL: return "class";
    case CS_PK_STORAGE: return "storage";
    case CS_PK_TENSOR: return "tensor";
    }
    return "object";
}

/* ---- loading context ------------------------------------------------------------------------ */

typedef struct cs_wload {
    cs_weights *w;
    const unsigned char *buf; /* (len) the whole file */
    size_t len;
    unsigned flags;
    cs_pickle pk;
    /* zip */
    zip_t *za;
    unsigned char *pkl; /* (pkl_len) data.pkl; the pickle's strings point into it */
    size_t pkl_len;
    char prefix[256];
    /* safetensors */
    cs_st_header sth;
} cs_wload;

static const char *cs_wl_name(const cs_wload *L) { return L->w->path; }

/* qsort_r comparators (glibc argument order; the library is built with _GNU_SOURCE) */
static int cs_storage_ref_cmp(const void *a, const void *b, void *ctx) {
    const cs_pickle *p = ctx;
    const cs_pk_storage *x = &p->storages[*(const uint32_t *)a];
    const cs_pk_storage *y = &p->storages[*(const uint32_t *)b];
    return cs_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

static int cs_name_cmp(const void *a, const void *b, void *ctx) {
    const cs_weights *w = ctx;
    return strcmp(w->t[*(const size_t *)a].name, w->t[*(const size_t *)b].name);
}

/* Take the tensors of a state dict (root) into w->t / w->st. */
static cs_status cs_wl_take_tensors(cs_wload *L, uint32_t root) {
    cs_weights *w = L->w;
    const cs_pickle *p = &L->pk;
    const char *path = cs_wl_name(L);
    const cs_pk_obj *d = cs_pk_get(p, root);
    if (d->type != CS_PK_DICT)
        return CS_FAIL(CS_E_FORMAT, "%s: the top-level object is a %s, expected a state dict", path,
                       cs_pk_type_name(d->type));
    size_t n = d->u.seq.n / 2;
    if (n > CS_WEIGHTS_MAX_TENSORS)
        return CS_FAIL(CS_E_FORMAT, "%s: %zu entries in the state dict (at most %d)", path, n,
                       CS_WEIGHTS_MAX_TENSORS);
    size_t names_len = 0;
    for (size_t k = 0; k < n; k++) {
        const cs_pk_obj *key = cs_pk_get(p, d->u.seq.items[2 * k]);
        const cs_pk_obj *val = cs_pk_get(p, d->u.seq.items[2 * k + 1]);
        if (key->type != CS_PK_STR)
            return CS_FAIL(CS_E_FORMAT, "%s: state dict key %zu is a %s, expected a str", path, k,
                           cs_pk_type_name(key->type));
        char pn[96];
        cs_printable(pn, sizeof pn, key->u.str.s, key->u.str.len);
        int ctrl = 0; /* control characters would garble messages and terminals */
        for (size_t j = 0; j < key->u.str.len; j++)
            ctrl |= (unsigned char)key->u.str.s[j] < 32 || key->u.str.s[j] == 127;
        if (key->u.str.len == 0 || key->u.str.len > CS_WEIGHTS_MAX_NAME || ctrl)
            return CS_FAIL(CS_E_FORMAT, "%s: bad tensor name '%s'", path, pn);
        if (val->type != CS_PK_TENSOR)
            return CS_FAIL(CS_E_FORMAT,
                           "%s: value of '%s' is a %s, expected a tensor (not a plain state dict)",
                           path, pn, cs_pk_type_name(val->type));
        names_len += key->u.str.len + 1;
    }
    w->t = cs_calloc(n, sizeof(cs_wt), "tensor table");
    w->by_name = cs_calloc(n, sizeof(size_t), "tensor index");
    w->names = cs_malloc(names_len, "tensor names");
    uint32_t *refs = cs_calloc(n, sizeof(uint32_t), "storage refs"); /* (n) pk storage per tensor */
    uint32_t *ord = cs_calloc(n, sizeof(uint32_t), "storage order");
    if (!w->t || !w->by_name || !w->names || !refs || !ord) {
        free(refs);
        free(ord);
        return CS_E_NOMEM;
    }
    w->n = n;
    char *np = w->names;
    for (size_t k = 0; k < n; k++) {
        const cs_pk_obj *key = cs_pk_get(p, d->u.seq.items[2 * k]);
        const cs_pk_tensor *pt = &p->tensors[cs_pk_get(p, d->u.seq.items[2 * k + 1])->u.index];
        cs_wt *t = &w->t[k];
        memcpy(np, key->u.str.s, key->u.str.len);
        np[key->u.str.len] = 0;
        t->name = np;
        np += key->u.str.len + 1;
        t->ndim = pt->ndim;
        memcpy(t->shape, pt->shape, sizeof t->shape);
        memcpy(t->stride, pt->stride, sizeof t->stride);
        t->offset = pt->offset;
        t->dtype = p->storages[pt->storage].dtype;
        refs[k] = pt->storage;
        w->by_name[k] = k;
    }
    /* unique storages by key; the same key may be referenced by several tensors */
    qsort_r(w->by_name, n, sizeof(size_t), cs_name_cmp, w);
    for (size_t k = 0; k < n; k++) ord[k] = refs[k];
    qsort_r(ord, n, sizeof(uint32_t), cs_storage_ref_cmp, (void *)p);
    cs_status st = CS_OK;
    for (size_t k = 1; k < n; k++)
        if (!strcmp(w->t[w->by_name[k - 1]].name, w->t[w->by_name[k]].name)) {
            st = CS_FAIL(CS_E_FORMAT, "%s: tensor %s appears twice", path, w->t[w->by_name[k]].name);
            goto done;
        }
    w->st = cs_calloc(n ? n : 1, sizeof(cs_wst), "storage table");
    if (!w->st) {
        st = CS_E_NOMEM;
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        const cs_pk_storage *s = &p->storages[ord[k]];
        if (w->nst && !cs_key_cmp(w->st[w->nst - 1].key, w->st[w->nst - 1].key_len, s->key, s->key_len)) {
            cs_wst *prev = &w->st[w->nst - 1];
            if (prev->dtype != s->dtype || prev->numel != s->numel) {
                char pk[64];
                cs_printable(pk, sizeof pk, s->key, s->key_len);
                st = CS_FAIL(CS_E_FORMAT, "%s: storage %s is declared twice with different types",
                             path, pk);
                goto done;
            }
            continue;
        }
        cs_wst *ws = &w->st[w->nst++];
        ws->key = s->key;
        ws->key_len = s->key_len;
        ws->dtype = s->dtype;
        ws->numel = s->numel;
        ws->zip_index = -1;
    }
    /* each tensor: its storage, numel, a contiguous row-major view inside the storage */
    for (size_t k = 0; k < n; k++) {
        cs_wt *t = &w->t[k];
        const cs_pk_storage *s = &p->storages[refs[k]];
        size_t lo = 0, hi = w->nst;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = cs_key_cmp(w->st[mid].key, w->st[mid].key_len, s->key, s->key_len);
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        CS_ASSERT(lo < w->nst);
        t->storage = (uint32_t)lo;
        int64_t numel = 1;
        for (int i = 0; i < t->ndim; i++) {
            if (t->shape[i] && numel > CS_WEIGHTS_MAX_NUMEL / t->shape[i]) {
                st = CS_FAIL(CS_E_FORMAT, "%s: tensor %s is implausibly large", path, t->name);
                goto done;
            }
            numel *= t->shape[i];
        }
        t->numel = (size_t)numel;
        /* any strided view (the official file stores conv weights HWIO and views them as OIHW):
         * the last element it touches, offset + sum (shape - 1) * stride, must be in the storage */
        const cs_wst *ws = &w->st[t->storage];
        if (numel > 0) {
            uint64_t last = (uint64_t)t->offset, term;
            int bad = last >= (uint64_t)ws->numel;
            for (int i = 0; i < t->ndim && !bad; i++)
                bad = __builtin_mul_overflow((uint64_t)(t->shape[i] - 1), (uint64_t)t->stride[i], &term) ||
                      __builtin_add_overflow(last, term, &last) || last >= (uint64_t)ws->numel;
            if (bad) {
                char a[96], b[96];
                cs_shape_str(a, sizeof a, t->ndim, t->shape);
                cs_shape_str(b, sizeof b, t->ndim, t->stride);
                st = CS_FAIL(CS_E_FORMAT,
                             "%s: tensor %s (offset %lld, size %s, stride %s) overruns its storage of "
                             "%lld elements",
                             path, t->name, (long long)t->offset, a, b, (long long)ws->numel);
                goto done;
            }
        }
    }
done:
    free(refs);
    free(ord);
    return st;
}

static cs_wst *cs_wl_storage_find(cs_weights *w, const char *key, size_t key_len) {
    size_t lo = 0, hi = w->nst;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cs_key_cmp(w->st[mid].key, w->st[mid].key_len, key, key_len);
        if (c == 0) return &w->st[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- legacy format -------------------------------------------------------------------------- */

/* pickle of 0x1950a86a20f9469cfc6c as LONG1 (10 bytes, little endian) */
static const unsigned char cs_legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                                  0x20, 0x6a, 0xa8, 0x50, 0x19};

static cs_status cs_wl_legacy_header(cs_wload *L) {
    cs_weights *w = L->w;
    const char *path = cs_wl_name(L);
    cs_pickle *p = &L->pk;
    size_t pos = 0, used = 0;
    uint32_t root;

    /* 1-3: magic, protocol, sys_info: plain data, no globals at all */
    p->allow_torch = 0;
    p->eof_is_truncation = 1;
    p->base = 0;
    CS_TRY(cs_pickle_run(p, L->buf, L->len, &used, &root));
    const cs_pk_obj *o = cs_pk_get(p, root);
    if (o->type != CS_PK_BIGINT || o->u.str.len != sizeof cs_legacy_magic ||
        memcmp(o->u.str.s, cs_legacy_magic, sizeof cs_legacy_magic))
        return CS_FAIL(CS_E_FORMAT, "%s: wrong magic number: not a torch.save file", path);
    pos += used;
    p->base = pos;
    CS_TRY(cs_pickle_run(p, L->buf + pos, L->len - pos, &used, &root));
    o = cs_pk_get(p, root);
    if (o->type != CS_PK_INT || o->u.i != 1001)
        return CS_FAIL(CS_E_UNSUPPORTED, "%s: torch legacy protocol version is not 1001", path);
    pos += used;
    p->base = pos;
    CS_TRY(cs_pickle_run(p, L->buf + pos, L->len - pos, &used, &root));
    uint32_t le = cs_pk_dict_get(p, root, "little_endian");
    uint32_t ts = cs_pk_dict_get(p, root, "type_sizes");
    uint32_t lg = ts == UINT32_MAX ? UINT32_MAX : cs_pk_dict_get(p, ts, "long");
    if (le == UINT32_MAX || cs_pk_get(p, le)->type != CS_PK_BOOL || lg == UINT32_MAX ||
        cs_pk_get(p, lg)->type != CS_PK_INT)
        return CS_FAIL(CS_E_FORMAT, "%s: bad sys_info record in the torch legacy header", path);
    if (!cs_pk_get(p, le)->u.i)
        return CS_FAIL(CS_E_UNSUPPORTED, "%s: big-endian torch file is not supported", path);
    int64_t long_size = cs_pk_get(p, lg)->u.i;
    if (long_size != 4 && long_size != 8)
        return CS_FAIL(CS_E_FORMAT, "%s: sys_info says long is %lld bytes (4 or 8 expected)", path,
                       (long long)long_size);
    w->long_size = (int)long_size;
    pos += used;

    /* 4: the state dict */
    p->allow_torch = 1;
    p->base = pos;
    CS_TRY(cs_pickle_run(p, L->buf + pos, L->len - pos, &used, &root));
    pos += used;
    CS_TRY(cs_wl_take_tensors(L, root));

    /* 5: the storage keys, in the order of the raw data */
    p->allow_torch = 0;
    p->base = pos;
    CS_TRY(cs_pickle_run(p, L->buf + pos, L->len - pos, &used, &root));
    pos += used;
    o = cs_pk_get(p, root);
    if (o->type != CS_PK_LIST)
        return CS_FAIL(CS_E_FORMAT, "%s: the storage key list is a %s", path, cs_pk_type_name(o->type));
    uint64_t cur = pos;
    for (uint32_t k = 0; k < o->u.seq.n; k++) {
        const cs_pk_obj *key = cs_pk_get(p, o->u.seq.items[k]);
        if (key->type != CS_PK_STR)
            return CS_FAIL(CS_E_FORMAT, "%s: storage key %u is a %s", path, k, cs_pk_type_name(key->type));
        cs_wst *s = cs_wl_storage_find(w, key->u.str.s, key->u.str.len);
        char pk[64];
        cs_printable(pk, sizeof pk, key->u.str.s, key->u.str.len);
        if (!s)
            return CS_FAIL(CS_E_FORMAT, "%s: storage key list names %s, which no tensor uses", path, pk);
        if (s->listed) return CS_FAIL(CS_E_FORMAT, "%s: storage %s is listed twice", path, pk);
        s->listed = 1;
        /* int64 element count, then the elements; numel <= 2^62 so no overflow below */
        uint64_t bytes = (uint64_t)s->numel * (uint64_t)cs_pk_dtype_size(s->dtype);
        s->data_off = cur + 8;
        cur = s->data_off + bytes;
        if (cur > ((uint64_t)1 << 62))
            return CS_FAIL(CS_E_FORMAT, "%s: storages are implausibly large", path);
    }
    for (size_t k = 0; k < w->nst; k++)
        if (!w->st[k].listed) {
            char pk[64];
            cs_printable(pk, sizeof pk, w->st[k].key, w->st[k].key_len);
            return CS_FAIL(CS_E_FORMAT, "%s: storage %s is missing from the storage key list", path, pk);
        }
    w->implied_size = cur;
    return CS_OK;
}

/* After the header: the file must be exactly as long as it implies; counts must agree. */
static cs_status cs_wl_legacy_check_size(cs_wload *L) {
    cs_weights *w = L->w;
    const char *path = cs_wl_name(L);
    if ((uint64_t)L->len < w->implied_size)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated: %llu of %llu bytes", path,
                       (unsigned long long)L->len, (unsigned long long)w->implied_size);
    if ((uint64_t)L->len > w->implied_size)
        return CS_FAIL(CS_E_FORMAT, "%s: %llu unexpected bytes after the last storage (file is %llu bytes, "
                       "its header implies %llu)",
                       path, (unsigned long long)(L->len - w->implied_size), (unsigned long long)L->len,
                       (unsigned long long)w->implied_size);
    for (size_t k = 0; k < w->nst; k++) {
        const cs_wst *s = &w->st[k];
        int64_t count;
        memcpy(&count, L->buf + s->data_off - 8, 8);
        if (count != s->numel) {
            char pk[64];
            cs_printable(pk, sizeof pk, s->key, s->key_len);
            return CS_FAIL(CS_E_FORMAT, "%s: storage %s: the file says %lld elements, the pickle %lld",
                           path, pk, (long long)count, (long long)s->numel);
        }
    }
    return CS_OK;
}

/* ---- zip format ----------------------------------------------------------------------------- */

static cs_status cs_wl_zip_error(cs_wload *L, const char *what, zip_error_t *ze) {
    return CS_FAIL(CS_E_FORMAT, "%s: corrupt zip archive: %s: %s", cs_wl_name(L), what,
                   zip_error_strerror(ze));
}

/* Read a whole entry (at most max bytes) into a new buffer. */
static cs_status cs_wl_zip_read_all(cs_wload *L, zip_int64_t idx, size_t max, unsigned char **out,
                                    size_t *out_len) {
    const char *path = cs_wl_name(L);
    zip_stat_t zs;
    *out = NULL;
    if (zip_stat_index(L->za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return cs_wl_zip_error(L, "stat", zip_get_error(L->za));
    if (zs.size > max)
        return CS_FAIL(CS_E_FORMAT, "%s: zip entry %s is %llu bytes (at most %zu expected)", path,
                       zs.name, (unsigned long long)zs.size, max);
    unsigned char *buf = cs_malloc((size_t)zs.size + 1, "zip entry");
    if (!buf) return CS_E_NOMEM;
    zip_file_t *zf = zip_fopen_index(L->za, (zip_uint64_t)idx, 0);
    if (!zf) {
        free(buf);
        return cs_wl_zip_error(L, zs.name, zip_get_error(L->za));
    }
    size_t got = 0;
    for (;;) {
        zip_int64_t r = zip_fread(zf, buf + got, (zip_uint64_t)((size_t)zs.size + 1 - got));
        if (r < 0) {
            cs_status st = cs_wl_zip_error(L, zs.name, zip_file_get_error(zf));
            zip_fclose(zf);
            free(buf);
            return st;
        }
        if (r == 0) break;
        got += (size_t)r;
        if (got > zs.size) break;
    }
    zip_fclose(zf);
    if (got != zs.size) {
        free(buf);
        return CS_FAIL(CS_E_FORMAT, "%s: zip entry %s has %zu bytes, its header says %llu", path,
                       zs.name, got, (unsigned long long)zs.size);
    }
    *out = buf;
    *out_len = got;
    return CS_OK;
}

static int cs_has_eocd(const unsigned char *buf, size_t len) {
    /* end of central directory: 22 bytes + a comment of up to 65535 */
    if (len < 22) return 0;
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len - 22 + 1; i-- > lo;)
        if (buf[i] == 'P' && buf[i + 1] == 'K' && buf[i + 2] == 5 && buf[i + 3] == 6) return 1;
    return 0;
}

static cs_status cs_wl_zip_header(cs_wload *L) {
    cs_weights *w = L->w;
    const char *path = cs_wl_name(L);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(L->buf, L->len, 0, &ze);
    if (!src) {
        cs_status st = CS_FAIL(CS_E_NOMEM, "%s: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    L->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!L->za) {
        zip_source_free(src);
        cs_status st;
        if (!cs_has_eocd(L->buf, L->len))
            st = CS_FAIL(CS_E_TRUNCATED,
                         "%s: truncated: zip archive of %zu bytes has no end of central directory",
                         path, L->len);
        else
            st = cs_wl_zip_error(L, "open", &ze);
        zip_error_fini(&ze);
        return st;
    }
    zip_error_fini(&ze);
    w->long_size = 8;
    if (zip_get_num_entries(L->za, 0) < 1)
        return CS_FAIL(CS_E_FORMAT, "%s: empty zip archive", path);
    const char *first = zip_get_name(L->za, 0, ZIP_FL_ENC_RAW);
    const char *slash = first ? strchr(first, '/') : NULL;
    if (!slash || slash == first || (size_t)(slash - first) >= sizeof L->prefix - 32)
        return CS_FAIL(CS_E_FORMAT, "%s: zip archive without a top folder: not a torch.save file", path);
    memcpy(L->prefix, first, (size_t)(slash - first));
    L->prefix[slash - first] = 0;

    char name[512];
    snprintf(name, sizeof name, "%s/byteorder", L->prefix);
    zip_int64_t idx = zip_name_locate(L->za, name, ZIP_FL_ENC_RAW);
    if (idx >= 0) {
        unsigned char *bo;
        size_t bo_len;
        CS_TRY(cs_wl_zip_read_all(L, idx, 16, &bo, &bo_len));
        int little = bo_len == 6 && !memcmp(bo, "little", 6);
        free(bo);
        if (!little) return CS_FAIL(CS_E_UNSUPPORTED, "%s: big-endian torch file is not supported", path);
    }
    snprintf(name, sizeof name, "%s/data.pkl", L->prefix);
    idx = zip_name_locate(L->za, name, ZIP_FL_ENC_RAW);
    if (idx < 0) return CS_FAIL(CS_E_FORMAT, "%s: zip archive has no %s: not a torch.save file", path, name);
    CS_TRY(cs_wl_zip_read_all(L, idx, CS_WEIGHTS_MAX_PKL, &L->pkl, &L->pkl_len));

    cs_pickle *p = &L->pk;
    p->allow_torch = 1;
    p->eof_is_truncation = 0;
    size_t used;
    uint32_t root;
    CS_TRY(cs_pickle_run(p, L->pkl, L->pkl_len, &used, &root));
    CS_TRY(cs_wl_take_tensors(L, root));

    /* every storage is an entry <prefix>/data/<key> of exactly numel * element size bytes */
    for (size_t k = 0; k < w->nst; k++) {
        cs_wst *s = &w->st[k];
        char pk[300];
        cs_printable(pk, sizeof pk, s->key, s->key_len);
        snprintf(name, sizeof name, "%s/data/%.*s", L->prefix, (int)s->key_len, s->key);
        idx = zip_name_locate(L->za, name, ZIP_FL_ENC_RAW);
        if (idx < 0) return CS_FAIL(CS_E_FORMAT, "%s: storage %s has no entry data/%s", path, pk, pk);
        zip_stat_t zs;
        if (zip_stat_index(L->za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
            return cs_wl_zip_error(L, "stat", zip_get_error(L->za));
        uint64_t bytes = (uint64_t)s->numel * (uint64_t)cs_pk_dtype_size(s->dtype);
        if (zs.size != bytes)
            return CS_FAIL(CS_E_FORMAT, "%s: storage data/%s is %llu bytes, its %lld %s elements need %llu",
                           path, pk, (unsigned long long)zs.size, (long long)s->numel,
                           cs_pk_dtype_name(s->dtype), (unsigned long long)bytes);
        s->zip_index = idx;
    }
    return CS_OK;
}

/* ---- validation against the expected model --------------------------------------------------- */

static cs_status cs_wl_check_expected(cs_wload *L) {
    cs_weights *w = L->w;
    const char *path = cs_wl_name(L);
    const cs_expected *E = cs_expected_table();
    for (size_t i = 0; i < CS_WEIGHTS_TENSOR_COUNT; i++) {
        cs_tensor_view v;
        if (cs_weights_tensor(w, E[i].name, &v) != CS_OK)
            return CS_FAIL(CS_E_MISMATCH,
                           "%s: missing tensor %s: not the FID Inception weights (pt_inception-2015-12-05)",
                           path, E[i].name);
    }
    for (size_t k = 0; k < w->n; k++)
        if (!cs_expected_find(w->t[k].name))
            return CS_FAIL(CS_E_MISMATCH,
                           "%s: unexpected tensor %s: another model, not the FID Inception weights "
                           "(pt_inception-2015-12-05)",
                           path, w->t[k].name);
    for (size_t k = 0; k < w->n; k++) {
        const cs_wt *t = &w->t[k];
        const cs_expected *e = cs_expected_find(t->name);
        if (t->ndim != e->ndim || memcmp(t->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim)) {
            char a[96], b[96];
            cs_shape_str(a, sizeof a, t->ndim, t->shape);
            cs_shape_str(b, sizeof b, e->ndim, e->shape);
            return CS_FAIL(CS_E_MISMATCH, "%s: shape of %s is %s, expected %s", path, t->name, a, b);
        }
        int want = e->is_int64 ? CS_DT_LONG : CS_DT_FLOAT;
        if (t->dtype != want)
            return CS_FAIL(t->dtype == CS_DT_FLOAT || t->dtype == CS_DT_LONG ? CS_E_MISMATCH
                                                                               : CS_E_UNSUPPORTED,
                           "%s: %s has dtype %s, expected %s%s", path, t->name,
                           cs_pk_dtype_name(t->dtype), cs_pk_dtype_name(want),
                           want == CS_DT_FLOAT ? " (re-save the weights with .float())" : "");
    }
    return CS_OK;
}

/* ---- data ----------------------------------------------------------------------------------- */

static cs_status cs_wl_alloc_data(cs_wload *L) {
    cs_weights *w = L->w;
    const char *path = cs_wl_name(L);
    uint64_t nf = 0, ni = 0;
    for (size_t k = 0; k < w->n; k++) {
        const cs_wt *t = &w->t[k];
        if (t->dtype == CS_DT_FLOAT) nf += t->numel;
        else if (t->dtype == CS_DT_LONG) ni += t->numel;
        else
            return CS_FAIL(CS_E_UNSUPPORTED, "%s: %s has dtype %s (only float32 and int64 are supported)",
                           path, t->name, cs_pk_dtype_name(t->dtype));
    }
    /* views may overlap (even with stride 0), so their total can exceed the file: the expected
     * model has a fixed size, any other is refused beyond 4x the file */
    uint64_t bytes = 4 * nf + 8 * ni;
    uint64_t limit = 4 * (uint64_t)L->len + ((uint64_t)1 << 20);
    if (((L->flags & CS_WEIGHTS_ANY_MODEL) && bytes > limit) || bytes > ((uint64_t)1 << 34))
        return CS_FAIL(CS_E_FORMAT, "%s: tensors hold %llu bytes, implausible for a file of %zu bytes",
                       path, (unsigned long long)bytes, L->len);
    w->fdata = cs_malloc((size_t)nf * sizeof(float), "weights (float32)");
    w->idata = cs_malloc((size_t)ni * sizeof(int64_t), "weights (int64)");
    if (!w->fdata || !w->idata) return CS_E_NOMEM;
    size_t fo = 0, io = 0;
    for (size_t k = 0; k < w->n; k++) {
        cs_wt *t = &w->t[k];
        if (t->dtype == CS_DT_FLOAT) {
            t->f = w->fdata + fo;
            fo += t->numel;
        } else {
            t->i = w->idata + io;
            io += t->numel;
        }
    }
    w->param_count = nf;
    return CS_OK;
}

static void *cs_wt_dst(cs_wt *t) { return t->f ? (void *)t->f : (void *)t->i; }

/* Copy a strided view out of a storage's bytes (src: the storage's first element, possibly
 * unaligned) into the tensor's contiguous row-major buffer. Bounds were checked in
 * cs_wl_take_tensors: every index below is inside the storage. */
static void cs_wt_gather(cs_wt *t, const unsigned char *src) {
    size_t es = (size_t)cs_pk_dtype_size(t->dtype);
    unsigned char *dst = cs_wt_dst(t);
    if (!t->numel) return;
    int64_t sh[4] = {1, 1, 1, 1}, sd[4] = {0, 0, 0, 0}; /* padded to 4 dims at the front */
    int pad = CS_WEIGHTS_MAX_NDIM - t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        sh[pad + i] = t->shape[i];
        sd[pad + i] = t->stride[i];
    }
    int64_t expect = 1;
    int contiguous = 1;
    for (int i = 3; i >= 0; i--) {
        if (sh[i] != 1 && sd[i] != expect) contiguous = 0;
        expect *= sh[i];
    }
    const unsigned char *base = src + (size_t)t->offset * es;
    if (contiguous) {
        memcpy(dst, base, t->numel * es);
        return;
    }
    size_t k = 0;
    for (int64_t a = 0; a < sh[0]; a++)
        for (int64_t b = 0; b < sh[1]; b++)
            for (int64_t c = 0; c < sh[2]; c++) {
                const unsigned char *row = base + (size_t)(a * sd[0] + b * sd[1] + c * sd[2]) * es;
                for (int64_t d = 0; d < sh[3]; d++, k++)
                    memcpy(dst + k * es, row + (size_t)(d * sd[3]) * es, es);
            }
}

static cs_status cs_wl_legacy_data(cs_wload *L) {
    cs_weights *w = L->w;
    for (size_t k = 0; k < w->n; k++) {
        /* the storage is inside the file (cs_wl_legacy_check_size) */
        cs_wt_gather(&w->t[k], L->buf + w->st[w->t[k].storage].data_off);
    }
    return CS_OK;
}

static cs_status cs_wl_zip_data(cs_wload *L) {
    cs_weights *w = L->w;
    const char *path = cs_wl_name(L);
    cs_status st = CS_OK;
    for (size_t si = 0; si < w->nst && st == CS_OK; si++) {
        const cs_wst *s = &w->st[si];
        int used = 0;
        for (size_t k = 0; k < w->n && !used; k++) used = w->t[k].storage == si && w->t[k].numel;
        if (!used) continue;
        /* weights do not compress much: a storage far larger than the file is a zip bomb */
        uint64_t total = (uint64_t)s->numel * (uint64_t)cs_pk_dtype_size(s->dtype);
        if (total > 16 * (uint64_t)L->len + ((uint64_t)1 << 20))
            return CS_FAIL(CS_E_FORMAT, "%s: storage of %llu bytes is implausible for a file of %zu bytes",
                           path, (unsigned long long)total, L->len);
        unsigned char *buf; /* (numel * element size) bytes of the storage */
        size_t got;
        CS_TRY(cs_wl_zip_read_all(L, s->zip_index, (size_t)total, &buf, &got));
        if (got != total) {
            free(buf);
            return CS_FAIL(CS_E_FORMAT, "%s: storage entry has %zu bytes, expected %llu", path, got,
                           (unsigned long long)total);
        }
        for (size_t k = 0; k < w->n; k++)
            if (w->t[k].storage == si) cs_wt_gather(&w->t[k], buf);
        free(buf);
    }
    return st;
}

static cs_status cs_wl_check_finite(cs_wload *L) {
    const cs_weights *w = L->w;
    for (size_t k = 0; k < w->n; k++) {
        const cs_wt *t = &w->t[k];
        if (!t->f) continue;
        for (size_t j = 0; j < t->numel; j++)
            if (!isfinite(t->f[j]))
                return CS_FAIL(CS_E_FORMAT, "%s: %s contains a non-finite value (%g at index %zu)",
                               cs_wl_name(L), t->name, (double)t->f[j], j);
    }
    return CS_OK;
}

/* ---- safetensors ------------------------------------------------------------------------------ */

/* The tensor table from a safetensors header (io/safetensors.c checked every offset): F32 as is,
 * F16 and BF16 converted to float32 when the data is read, I64 kept; other dtypes refused. */
static cs_status cs_wl_st_header(cs_wload *L) {
    cs_weights *w = L->w;
    const char *path = cs_wl_name(L);
    CS_TRY(cs_safetensors_parse(L->buf, L->len, path, &L->sth));
    const size_t n = L->sth.n;
    size_t names_len = 1;
    for (size_t k = 0; k < n; k++) {
        const cs_st_tensor *s = &L->sth.t[k];
        if (!s->dtype)
            return CS_FAIL(CS_E_UNSUPPORTED, "%s: %s has dtype %s (F32, F16, BF16 and I64 are supported)", path,
                           s->name, s->dtype_name);
        names_len += strlen(s->name) + 1;
    }
    w->t = cs_calloc(n ? n : 1, sizeof(cs_wt), "tensor table");
    w->by_name = cs_calloc(n ? n : 1, sizeof(size_t), "tensor index");
    w->names = cs_malloc(names_len, "tensor names");
    if (!w->t || !w->by_name || !w->names) return CS_E_NOMEM;
    w->n = n;
    char *np = w->names;
    for (size_t k = 0; k < n; k++) {
        const cs_st_tensor *s = &L->sth.t[k];
        cs_wt *t = &w->t[k];
        size_t nl = strlen(s->name);
        memcpy(np, s->name, nl + 1);
        t->name = np;
        np += nl + 1;
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        int64_t stride = 1;
        for (int i = s->ndim - 1; i >= 0; i--) {
            t->stride[i] = stride;
            stride *= s->shape[i] ? s->shape[i] : 1;
        }
        t->dtype = s->dtype == CS_DT_LONG ? CS_DT_LONG : CS_DT_FLOAT;
        t->numel = s->numel;
        w->by_name[k] = k;
    }
    qsort_r(w->by_name, n, sizeof(size_t), cs_name_cmp, w);
    for (size_t k = 1; k < n; k++)
        if (!strcmp(w->t[w->by_name[k - 1]].name, w->t[w->by_name[k]].name))
            return CS_FAIL(CS_E_FORMAT, "%s: tensor %s appears twice", path, w->t[w->by_name[k]].name);
    return CS_OK;
}

static float cs_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023u, bits;
    if (exp == 0) {
        if (!man) bits = sign;
        else { /* subnormal: normalise */
            exp = 113;
            while (!(man & 1024u)) {
                man <<= 1;
                exp--;
            }
            bits = sign | exp << 23 | (man & 1023u) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static cs_status cs_wl_st_data(cs_wload *L) {
    cs_weights *w = L->w;
    for (size_t k = 0; k < w->n; k++) {
        const cs_st_tensor *s = &L->sth.t[k];
        cs_wt *t = &w->t[k];
        const unsigned char *src = L->buf + s->begin; /* inside the file (cs_safetensors_parse) */
        if (s->dtype == CS_DT_FLOAT || s->dtype == CS_DT_LONG) {
            memcpy(cs_wt_dst(t), src, s->numel * (size_t)s->elem_size);
        } else {
            for (size_t i = 0; i < s->numel; i++) {
                uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
                if (s->dtype == CS_DT_HALF) t->f[i] = cs_half_to_float(h);
                else {
                    uint32_t bits = (uint32_t)h << 16;
                    memcpy(&t->f[i], &bits, 4);
                }
            }
        }
    }
    return CS_OK;
}

/* ---- public API ----------------------------------------------------------------------------- */

cs_status cs_weights_load_memory(const void *data, size_t len, const char *name, unsigned flags,
                                 cs_weights **out) {
    *out = NULL;
    cs_status st = CS_OK;
    cs_wload L;
    memset(&L, 0, sizeof L);
    cs_weights *w = cs_calloc(1, sizeof *w, "weights");
    if (!w) return CS_E_NOMEM;
    w->path = strdup(name ? name : "(memory)");
    if (!w->path) {
        free(w);
        return CS_FAIL(CS_E_NOMEM, "out of memory");
    }
    L.w = w;
    L.buf = data;
    L.len = len;
    L.flags = flags;
    cs_pickle_init(&L.pk, w->path, 0);
    w->file_size = len;
    cs_sha256_bytes(data, len, w->sha256);

    const unsigned char *b = data;
    if (cs_safetensors_sniff(b, len)) {
        w->format = CS_WEIGHTS_SAFETENSORS;
        CS_TRY_GOTO(st, cs_wl_st_header(&L), fail);
        snprintf(w->format_desc, sizeof w->format_desc, "safetensors");
    } else if (len >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) {
        w->format = CS_WEIGHTS_ZIP;
        CS_TRY_GOTO(st, cs_wl_zip_header(&L), fail);
        snprintf(w->format_desc, sizeof w->format_desc, "torch zip");
    } else if (len >= 1 && b[0] == 0x80) { /* PROTO: a pickle (the pickle reports bad versions) */
        w->format = CS_WEIGHTS_LEGACY;
        CS_TRY_GOTO(st, cs_wl_legacy_header(&L), fail);
        snprintf(w->format_desc, sizeof w->format_desc, "torch legacy, long = %d bytes", w->long_size);
        if (!(flags & CS_WEIGHTS_HEADER_ONLY)) CS_TRY_GOTO(st, cs_wl_legacy_check_size(&L), fail);
    } else if (len >= 263 && !memcmp(b + 257, "ustar", 5)) {
        st = CS_FAIL(CS_E_UNSUPPORTED, "%s: torch tar format (PyTorch < 0.4) is not supported; "
                     "re-save it with a current PyTorch", w->path);
        goto fail;
    } else if (len == 0) {
        st = CS_FAIL(CS_E_TRUNCATED, "%s: truncated: the file is empty", w->path);
        goto fail;
    } else {
        st = CS_FAIL(CS_E_FORMAT, "%s: not a torch weights file (neither torch zip nor torch legacy "
                     "format)", w->path);
        goto fail;
    }
    for (size_t k = 0; k < w->n; k++)
        if (w->t[k].dtype == CS_DT_FLOAT) w->param_count += w->t[k].numel;
    if (flags & CS_WEIGHTS_HEADER_ONLY) goto ok;
    if (!(flags & CS_WEIGHTS_ANY_MODEL)) CS_TRY_GOTO(st, cs_wl_check_expected(&L), fail);
    CS_TRY_GOTO(st, cs_wl_alloc_data(&L), fail);
    if (w->format == CS_WEIGHTS_LEGACY) CS_TRY_GOTO(st, cs_wl_legacy_data(&L), fail);
    else if (w->format == CS_WEIGHTS_SAFETENSORS) CS_TRY_GOTO(st, cs_wl_st_data(&L), fail);
    else CS_TRY_GOTO(st, cs_wl_zip_data(&L), fail);
    CS_TRY_GOTO(st, cs_wl_check_finite(&L), fail);
    w->has_data = 1;
ok:
    /* storage keys point into the input; they are not needed any more */
    for (size_t k = 0; k < w->nst; k++) w->st[k].key = NULL;
    if (L.za) zip_discard(L.za);
    free(L.pkl);
    cs_pickle_free(&L.pk);
    cs_safetensors_free(&L.sth);
    *out = w;
    return CS_OK;
fail:
    cs_safetensors_free(&L.sth);
    if (L.za) zip_discard(L.za);
    free(L.pkl);
    cs_pickle_free(&L.pk);
    cs_weights_free(w);
    return st;
}

cs_status cs_weights_load_ex(const char *path, unsigned flags, cs_weights **out) {
    *out = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    CS_TRY(cs_read_file(path, CS_WEIGHTS_MAX_FILE, &buf, &len));
    cs_status st = cs_weights_load_memory(buf, len, path, flags, out);
    free(buf);
    return st;
}

cs_status cs_weights_load(const char *path, cs_weights **out) { return cs_weights_load_ex(path, 0, out); }

void cs_weights_free(cs_weights *w) {
    if (!w) return;
    free(w->path);
    free(w->t);
    free(w->by_name);
    free(w->names);
    free(w->st);
    free(w->fdata);
    free(w->idata);
    free(w);
}

cs_weights_format cs_weights_get_format(const cs_weights *w) { return w->format; }

const char *cs_weights_format_name(cs_weights_format f) {
    switch (f) {
    case CS_WEIGHTS_LEGACY: return "torch legacy";
    case CS_WEIGHTS_ZIP: return "torch zip";
    case CS_WEIGHTS_SAFETENSORS: return "safetensors";
    }
    return "unknown";
}

const char *cs_weights_describe_format(const cs_weights *w) { return w->format_desc; }
int cs_weights_long_size(const cs_weights *w) { return w->long_size; }
const char *cs_weights_sha256(const cs_weights *w) { return w->sha256; }
const char *cs_weights_path(const cs_weights *w) { return w->path; }
size_t cs_weights_tensor_count(const cs_weights *w) { return w->n; }
uint64_t cs_weights_param_count(const cs_weights *w) { return w->param_count; }
uint64_t cs_weights_file_size(const cs_weights *w) { return w->file_size; }
uint64_t cs_weights_implied_size(const cs_weights *w) { return w->implied_size; }
int cs_weights_has_data(const cs_weights *w) { return w->has_data; }
int cs_weights_is_official(const cs_weights *w) { return !strcmp(w->sha256, CS_WEIGHTS_OFFICIAL_SHA256); }

static void cs_wt_view(const cs_wt *t, cs_tensor_view *v) {
    memset(v, 0, sizeof *v);
    v->name = t->name;
    v->ndim = t->ndim;
    memcpy(v->shape, t->shape, sizeof v->shape);
    v->is_int64 = t->dtype == CS_DT_LONG;
    v->data = t->f;
    v->idata = t->i;
    v->numel = t->numel;
}

cs_status cs_weights_tensor_at(const cs_weights *w, size_t i, cs_tensor_view *out) {
    if (i >= w->n)
        return CS_FAIL(CS_E_NOTFOUND, "%s: tensor index %zu out of range (%zu tensors)", w->path, i, w->n);
    cs_wt_view(&w->t[i], out);
    return CS_OK;
}

cs_status cs_weights_tensor(const cs_weights *w, const char *name, cs_tensor_view *out) {
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(w->t[w->by_name[mid]].name, name);
        if (c == 0) {
            cs_wt_view(&w->t[w->by_name[mid]], out);
            return CS_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return CS_FAIL(CS_E_NOTFOUND, "%s: no tensor named %s", w->path, name);
}

/* ---- discovery ------------------------------------------------------------------------------ */

static int cs_is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

cs_status cs_weights_find(const char *explicit_path, char *out, size_t out_size) {
    if (explicit_path && explicit_path[0]) {
        /* a missing file, a directory, FIFO, device or link loop: refused naming what it is */
        CS_TRY(cs_check_regular_file(explicit_path));
        if (strlen(explicit_path) >= out_size)
            return CS_FAIL(CS_E_USAGE, "%s: path too long", explicit_path);
        strcpy(out, explicit_path);
        return CS_OK;
    }
    /* candidates in order; torch-fidelity stores the same bytes under another name */
    static const char *names[] = {CS_WEIGHTS_OFFICIAL_NAME, "weights-inception-2015-12-05-6726825d.pth"};
    char cand[6][2048];
    int nc = 0;
    const char *env = getenv("COPYSCOPE_WEIGHTS");
    if (env && env[0]) snprintf(cand[nc++], sizeof cand[0], "%.2000s", env);
    const char *th = getenv("TORCH_HOME");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char dirs[3][1024];
    int nd = 0;
    if (th && th[0]) snprintf(dirs[nd++], sizeof dirs[0], "%.900s/hub/checkpoints", th);
    if (xdg && xdg[0]) snprintf(dirs[nd++], sizeof dirs[0], "%.900s/torch/hub/checkpoints", xdg);
    if (home && home[0]) snprintf(dirs[nd++], sizeof dirs[0], "%.900s/.cache/torch/hub/checkpoints", home);
    for (int d = 0; d < nd; d++)
        for (int k = 0; k < 2 && nc < 6; k++) {
            int dup = 0;
            snprintf(cand[nc], sizeof cand[0], "%.1024s/%.100s", dirs[d], names[k]);
            for (int j = 0; j < nc; j++) dup |= !strcmp(cand[j], cand[nc]);
            if (!dup) nc++;
        }
    for (int i = 0; i < nc; i++)
        if (cs_is_file(cand[i])) {
            if (strlen(cand[i]) >= out_size) return CS_FAIL(CS_E_USAGE, "%s: path too long", cand[i]);
            strcpy(out, cand[i]);
            return CS_OK;
        }
    char list[4096];
    size_t k = 0;
    list[0] = 0;
    for (int i = 0; i < nc && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s%s", i ? ", " : "",
                              i == 0 && env && env[0] ? "$COPYSCOPE_WEIGHTS=" : "", cand[i]);
    return CS_FAIL(CS_E_NOTFOUND,
                   "FID Inception weights not found (searched: %s); download %s into "
                   "$TORCH_HOME/hub/checkpoints/ or point $COPYSCOPE_WEIGHTS or --weights at it",
                   nc ? list : "nothing: $COPYSCOPE_WEIGHTS, $TORCH_HOME and $HOME are unset",
                   CS_WEIGHTS_OFFICIAL_URL);
}

cs_status cs_weights_find_named(const char *explicit_path, const char *file_name, const char *what, char *out,
                                size_t out_size) {
    if (explicit_path && explicit_path[0]) return cs_weights_find(explicit_path, out, out_size);
    const char *th = getenv("TORCH_HOME"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char cand[3][2048], list[6200];
    int nc = 0;
    if (th && th[0]) snprintf(cand[nc++], sizeof cand[0], "%.900s/hub/checkpoints/%.200s", th, file_name);
    if (xdg && xdg[0]) snprintf(cand[nc++], sizeof cand[0], "%.900s/torch/hub/checkpoints/%.200s", xdg, file_name);
    if (home && home[0]) snprintf(cand[nc++], sizeof cand[0], "%.900s/.cache/torch/hub/checkpoints/%.200s", home, file_name);
    size_t k = 0;
    list[0] = 0;
    for (int i = 0; i < nc; i++) {
        if (cs_is_file(cand[i])) {
            if (strlen(cand[i]) >= out_size) return CS_FAIL(CS_E_USAGE, "%s: path too long", cand[i]);
            strcpy(out, cand[i]);
            return CS_OK;
        }
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", cand[i]);
    }
    return CS_FAIL(CS_E_NOTFOUND, "%s weights not found (searched: %s); name the file with --weights", what,
                   nc ? list : "nothing: $TORCH_HOME, $XDG_CACHE_HOME and $HOME are unset");
}
