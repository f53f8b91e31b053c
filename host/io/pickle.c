/* Restricted pickle interpreter (see pickle.h). No recursion, no code execution; the
 * allow-list of globals is in cs_pk_resolve_global. */
#include "io/pickle.h"

#include "core/common.h"

#include <stdarg.h>
#include <string.h>

#define CS_PK_MAX_OBJS (1u << 22)   /* 4M objects (~128 MiB): far above a state dict's ~10k */
#define CS_PK_MAX_STACK (1u << 22)
#define CS_PK_MAX_GLOBAL_LINE 256   /* module or name of a GLOBAL */
#define CS_PK_NONE_ID UINT32_MAX

static const struct {
    const char *name;
    int dtype;
    int size;
} cs_pk_dtypes[] = {
    {"", 0, 0},
    {"float32", CS_DT_FLOAT, 4},
    {"int64", CS_DT_LONG, 8},
    {"float64", CS_DT_DOUBLE, 8},
    {"float16", CS_DT_HALF, 2},
    {"bfloat16", CS_DT_BFLOAT16, 2},
    {"int32", CS_DT_INT, 4},
    {"int16", CS_DT_SHORT, 2},
    {"int8", CS_DT_CHAR, 1},
    {"uint8", CS_DT_BYTE, 1},
    {"bool", CS_DT_BOOL, 1},
};

const char *cs_pk_dtype_name(int dtype) {
    if (dtype < 1 || dtype > CS_DT_BOOL) return "unknown";
    return cs_pk_dtypes[dtype].name;
}

int cs_pk_dtype_size(int dtype) {
    if (dtype < 1 || dtype > CS_DT_BOOL) return 0;
    return cs_pk_dtypes[dtype].size;
}

void cs_pickle_init(cs_pickle *p, const char *what, int allow_torch) {
    memset(p, 0, sizeof *p);
    p->what = what;
    p->allow_torch = allow_torch;
}

void cs_pickle_free(cs_pickle *p) {
    if (!p) return;
    for (uint32_t i = 0; i < p->nobjs; i++) {
        uint8_t t = p->objs[i].type;
        if (t == CS_PK_TUPLE || t == CS_PK_LIST || t == CS_PK_DICT) free(p->objs[i].u.seq.items);
    }
    free(p->objs);
    free(p->storages);
    free(p->tensors);
    free(p->stack);
    free(p->marks);
    free(p->memo);
    memset(p, 0, sizeof *p);
}

/* ---- growable arrays ------------------------------------------------------------------------ */

/* Grow *arr (elements of size esz) so that it holds at least need elements. */
static int cs_pk_grow(void **arr, size_t *cap, size_t need, size_t esz) {
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return 0;
        nc *= 2;
    }
    size_t bytes;
    if (!cs_mul_size(nc, esz, &bytes)) return 0;
    void *q = realloc(*arr, bytes);
    if (!q) return 0;
    *arr = q;
    *cap = nc;
    return 1;
}

static int cs_pk_grow32(void **arr, uint32_t *cap, size_t need, size_t esz) {
    size_t c = *cap;
    if (need > UINT32_MAX) return 0;
    if (!cs_pk_grow(arr, &c, need, esz)) return 0;
    *cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    return 1;
}

/* ---- interpreter state for one run ---------------------------------------------------------- */

typedef struct cs_pk_run {
    cs_pickle *p;
    const unsigned char *buf;
    size_t len, pos, op_pos;
    int op;
} cs_pk_run;

#define CS_PK_FAIL(r, st, ...) cs_pk_fail((r), (st), __FILE__, __LINE__, __VA_ARGS__)

static cs_status cs_pk_fail(cs_pk_run *r, cs_status st, const char *file, int line, const char *fmt,
                            ...) __attribute__((format(printf, 5, 6)));

static cs_status cs_pk_fail(cs_pk_run *r, cs_status st, const char *file, int line, const char *fmt,
                            ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cs_error_set(st, file, line, "%s: pickle at byte %llu (opcode 0x%02x): %s", r->p->what,
                        (unsigned long long)(r->p->base + r->op_pos), (unsigned)r->op & 0xffu,
                        msg);
}

static cs_status cs_pk_nomem(cs_pk_run *r) { return CS_PK_FAIL(r, CS_E_NOMEM, "out of memory"); }

/* Every read goes through here: n more bytes must exist. */
static cs_status cs_pk_need(cs_pk_run *r, size_t n) {
    if (n <= r->len - r->pos) return CS_OK;
    if (r->p->eof_is_truncation)
        return cs_error_set(CS_E_TRUNCATED, __FILE__, __LINE__,
                            "%s: truncated: file ends inside a pickle (opcode 0x%02x at byte %llu "
                            "needs %zu more bytes, %zu left)",
                            r->p->what, (unsigned)r->op & 0xffu,
                            (unsigned long long)(r->p->base + r->op_pos), n, r->len - r->pos);
    return CS_PK_FAIL(r, CS_E_FORMAT, "pickle ends before STOP (needs %zu more bytes, %zu left)", n,
                      r->len - r->pos);
}

static cs_status cs_pk_u8(cs_pk_run *r, uint64_t *v) {
    CS_TRY(cs_pk_need(r, 1));
    *v = r->buf[r->pos++];
    return CS_OK;
}

static cs_status cs_pk_le(cs_pk_run *r, int nbytes, uint64_t *v) {
    CS_TRY(cs_pk_need(r, (size_t)nbytes));
    uint64_t x = 0;
    for (int i = nbytes - 1; i >= 0; i--) x = (x << 8) | r->buf[r->pos + (size_t)i];
    r->pos += (size_t)nbytes;
    *v = x;
    return CS_OK;
}

static cs_status cs_pk_new(cs_pk_run *r, uint8_t type, uint32_t *id) {
    cs_pickle *p = r->p;
    if (p->nobjs >= p->max_objs)
        return CS_PK_FAIL(r, CS_E_FORMAT, "more than %u objects", p->max_objs);
    if (!cs_pk_grow32((void **)&p->objs, &p->objs_cap, (size_t)p->nobjs + 1, sizeof(cs_pk_obj)))
        return cs_pk_nomem(r);
    cs_pk_obj *o = &p->objs[p->nobjs];
    memset(o, 0, sizeof *o);
    o->type = type;
    *id = p->nobjs++;
    return CS_OK;
}

static cs_status cs_pk_push(cs_pk_run *r, uint32_t id) {
    cs_pickle *p = r->p;
    if (p->nstack >= CS_PK_MAX_STACK)
        return CS_PK_FAIL(r, CS_E_FORMAT, "stack deeper than %u", CS_PK_MAX_STACK);
    if (!cs_pk_grow((void **)&p->stack, &p->stack_cap, p->nstack + 1, sizeof(uint32_t)))
        return cs_pk_nomem(r);
    p->stack[p->nstack++] = id;
    return CS_OK;
}

/* Stack items above the topmost mark must number at least n. */
static size_t cs_pk_floor(const cs_pickle *p) { return p->nmarks ? p->marks[p->nmarks - 1] : 0; }

static cs_status cs_pk_pop(cs_pk_run *r, uint32_t *id) {
    cs_pickle *p = r->p;
    if (p->nstack <= cs_pk_floor(p)) return CS_PK_FAIL(r, CS_E_FORMAT, "stack underflow");
    *id = p->stack[--p->nstack];
    return CS_OK;
}

static cs_status cs_pk_top(cs_pk_run *r, uint32_t *id) {
    cs_pickle *p = r->p;
    if (p->nstack <= cs_pk_floor(p)) return CS_PK_FAIL(r, CS_E_FORMAT, "stack underflow");
    *id = p->stack[p->nstack - 1];
    return CS_OK;
}

static cs_status cs_pk_pop_mark(cs_pk_run *r, size_t *start) {
    cs_pickle *p = r->p;
    if (!p->nmarks) return CS_PK_FAIL(r, CS_E_FORMAT, "no MARK on the stack");
    *start = p->marks[--p->nmarks];
    return CS_OK;
}

static cs_status cs_pk_seq_add(cs_pk_run *r, uint32_t obj, uint32_t item) {
    cs_pk_obj *o = &r->p->objs[obj];
    size_t cap = o->u.seq.cap;
    if (!cs_pk_grow((void **)&o->u.seq.items, &cap, (size_t)o->u.seq.n + 1, sizeof(uint32_t)) ||
        cap > UINT32_MAX)
        return cs_pk_nomem(r);
    o->u.seq.cap = (uint32_t)cap;
    o->u.seq.items[o->u.seq.n++] = item;
    return CS_OK;
}

/* A new TUPLE/LIST/DICT holding stack[start..nstack), which is popped. */
static cs_status cs_pk_collect(cs_pk_run *r, uint8_t type, size_t start, uint32_t *id) {
    cs_pickle *p = r->p;
    CS_TRY(cs_pk_new(r, type, id));
    size_t n = p->nstack - start;
    if (n) {
        uint32_t *items = malloc(n * sizeof(uint32_t));
        if (!items) return cs_pk_nomem(r);
        memcpy(items, p->stack + start, n * sizeof(uint32_t));
        p->objs[*id].u.seq.items = items;
        p->objs[*id].u.seq.n = (uint32_t)n;
        p->objs[*id].u.seq.cap = (uint32_t)n;
    }
    p->nstack = start;
    return CS_OK;
}

static cs_status cs_pk_str(cs_pk_run *r, uint8_t type, uint64_t n) {
    if (n > r->len - r->pos) CS_TRY(cs_pk_need(r, n > SIZE_MAX ? SIZE_MAX : (size_t)n));
    uint32_t id;
    CS_TRY(cs_pk_new(r, type, &id));
    r->p->objs[id].u.str.s = (const char *)r->buf + r->pos;
    r->p->objs[id].u.str.len = (size_t)n;
    r->pos += (size_t)n;
    return cs_pk_push(r, id);
}

static cs_status cs_pk_int(cs_pk_run *r, int64_t v) {
    uint32_t id;
    CS_TRY(cs_pk_new(r, CS_PK_INT, &id));
    r->p->objs[id].u.i = v;
    return cs_pk_push(r, id);
}

/* LONG1/LONG4: little-endian two's complement of n bytes. */
static cs_status cs_pk_long(cs_pk_run *r, uint64_t n) {
    if (n > 8) return cs_pk_str(r, CS_PK_BIGINT, n);
    CS_TRY(cs_pk_need(r, (size_t)n));
    uint64_t x = 0;
    for (int i = (int)n - 1; i >= 0; i--) x = (x << 8) | r->buf[r->pos + (size_t)i];
    if (n > 0 && n < 8 && (r->buf[r->pos + n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * n);
    r->pos += (size_t)n;
    return cs_pk_int(r, (int64_t)x);
}

/* ---- globals: the allow-list ---------------------------------------------------------------- */

static int cs_pk_eq(const char *s, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static cs_status cs_pk_resolve_global(cs_pk_run *r, const char *mod, size_t modn, const char *name,
                                      size_t namen) {
    static const struct {
        const char *name;
        int dtype;
    } storages[] = {
        {"FloatStorage", CS_DT_FLOAT}, {"LongStorage", CS_DT_LONG},   {"DoubleStorage", CS_DT_DOUBLE},
        {"HalfStorage", CS_DT_HALF},   {"BFloat16Storage", CS_DT_BFLOAT16},
        {"IntStorage", CS_DT_INT},     {"ShortStorage", CS_DT_SHORT}, {"CharStorage", CS_DT_CHAR},
        {"ByteStorage", CS_DT_BYTE},   {"BoolStorage", CS_DT_BOOL},
    };
    int which = 0, dtype = 0;
    if (r->p->allow_torch) {
        if (cs_pk_eq(mod, modn, "collections") && cs_pk_eq(name, namen, "OrderedDict"))
            which = CS_PKG_ORDERED_DICT;
        else if (cs_pk_eq(mod, modn, "torch._utils") && cs_pk_eq(name, namen, "_rebuild_tensor_v2"))
            which = CS_PKG_REBUILD_TENSOR_V2;
        else if (cs_pk_eq(mod, modn, "torch._utils") && cs_pk_eq(name, namen, "_rebuild_tensor"))
            which = CS_PKG_REBUILD_TENSOR;
        else if (cs_pk_eq(mod, modn, "torch"))
            for (size_t i = 0; i < sizeof storages / sizeof storages[0]; i++)
                if (cs_pk_eq(name, namen, storages[i].name)) {
                    which = CS_PKG_STORAGE;
                    dtype = storages[i].dtype;
                }
    }
    if (!which) {
        /* print only printable characters of a hostile name */
        char m[CS_PK_MAX_GLOBAL_LINE + 1], nm[CS_PK_MAX_GLOBAL_LINE + 1];
        size_t a = modn < CS_PK_MAX_GLOBAL_LINE ? modn : CS_PK_MAX_GLOBAL_LINE;
        size_t b = namen < CS_PK_MAX_GLOBAL_LINE ? namen : CS_PK_MAX_GLOBAL_LINE;
        for (size_t i = 0; i < a; i++) m[i] = (mod[i] >= 32 && mod[i] < 127) ? mod[i] : '?';
        for (size_t i = 0; i < b; i++) nm[i] = (name[i] >= 32 && name[i] < 127) ? name[i] : '?';
        m[a] = nm[b] = 0;
        return CS_PK_FAIL(r, CS_E_FORMAT,
                          "forbidden global %s.%s (a weights file may only name "
                          "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch "
                          "storage types; this file may try to run code)",
                          m, nm);
    }
    uint32_t id;
    CS_TRY(cs_pk_new(r, CS_PK_GLOBAL, &id));
    r->p->objs[id].sub = (uint8_t)which;
    r->p->objs[id].u.index = (uint32_t)dtype;
    return cs_pk_push(r, id);
}

/* GLOBAL: "module\nname\n" */
static cs_status cs_pk_read_line(cs_pk_run *r, const char **s, size_t *n) {
    size_t start = r->pos;
    for (;;) {
        CS_TRY(cs_pk_need(r, 1));
        if (r->buf[r->pos] == '\n') break;
        r->pos++;
        if (r->pos - start > CS_PK_MAX_GLOBAL_LINE)
            return CS_PK_FAIL(r, CS_E_FORMAT, "GLOBAL name longer than %d bytes",
                              CS_PK_MAX_GLOBAL_LINE);
    }
    *s = (const char *)r->buf + start;
    *n = r->pos - start;
    r->pos++; /* the newline */
    return CS_OK;
}

/* ---- torch objects -------------------------------------------------------------------------- */

static int cs_pk_is(const cs_pickle *p, uint32_t id, uint8_t type) { return p->objs[id].type == type; }

/* BINPERSID: ('storage', torch.XStorage, key, location, numel[, view_metadata]) */
static cs_status cs_pk_persid(cs_pk_run *r) {
    cs_pickle *p = r->p;
    if (!p->allow_torch) return CS_PK_FAIL(r, CS_E_FORMAT, "unexpected persistent id");
    uint32_t pid;
    CS_TRY(cs_pk_pop(r, &pid));
    const cs_pk_obj *t = &p->objs[pid];
    if (t->type != CS_PK_TUPLE || t->u.seq.n < 5 || t->u.seq.n > 6)
        return CS_PK_FAIL(r, CS_E_FORMAT,
                          "persistent id is not ('storage', type, key, location, numel)");
    const uint32_t *it = t->u.seq.items;
    if (!cs_pk_str_eq(p, it[0], "storage"))
        return CS_PK_FAIL(r, CS_E_FORMAT, "persistent id is not a storage");
    const cs_pk_obj *g = &p->objs[it[1]];
    if (g->type != CS_PK_GLOBAL || g->sub != CS_PKG_STORAGE)
        return CS_PK_FAIL(r, CS_E_FORMAT, "storage type is not a torch storage class");
    if (!cs_pk_is(p, it[2], CS_PK_STR) || !cs_pk_is(p, it[3], CS_PK_STR) ||
        !cs_pk_is(p, it[4], CS_PK_INT))
        return CS_PK_FAIL(r, CS_E_FORMAT, "storage persistent id has wrong field types");
    if (t->u.seq.n == 6 && !cs_pk_is(p, it[5], CS_PK_NONE))
        return CS_PK_FAIL(r, CS_E_UNSUPPORTED,
                          "storage views (pre-0.4 PyTorch view_metadata) are not supported");
    int64_t numel = p->objs[it[4]].u.i;
    if (numel < 0) return CS_PK_FAIL(r, CS_E_FORMAT, "negative storage size %lld", (long long)numel);
    const cs_pk_obj *key = &p->objs[it[2]];
    if (key->u.str.len == 0 || key->u.str.len > 256 || memchr(key->u.str.s, 0, key->u.str.len) ||
        memchr(key->u.str.s, '/', key->u.str.len))
        return CS_PK_FAIL(r, CS_E_FORMAT, "bad storage key");
    if (!cs_pk_grow32((void **)&p->storages, &p->storages_cap, (size_t)p->nstorages + 1,
                      sizeof(cs_pk_storage)))
        return cs_pk_nomem(r);
    cs_pk_storage *s = &p->storages[p->nstorages];
    s->key = key->u.str.s;
    s->key_len = key->u.str.len;
    s->dtype = (int)g->u.index;
    s->numel = numel;
    uint32_t id;
    CS_TRY(cs_pk_new(r, CS_PK_STORAGE, &id));
    p->objs[id].sub = (uint8_t)s->dtype;
    p->objs[id].u.index = p->nstorages++;
    return cs_pk_push(r, id);
}

/* A tuple of non-negative ints into out[]; returns its length via *n. */
static cs_status cs_pk_int_tuple(cs_pk_run *r, uint32_t id, int64_t *out, int *n, const char *what) {
    const cs_pickle *p = r->p;
    const cs_pk_obj *t = &p->objs[id];
    if (t->type != CS_PK_TUPLE) return CS_PK_FAIL(r, CS_E_FORMAT, "tensor %s is not a tuple", what);
    if (t->u.seq.n > CS_PK_MAX_NDIM)
        return CS_PK_FAIL(r, CS_E_UNSUPPORTED, "tensor has %u dimensions (at most %d supported)",
                          t->u.seq.n, CS_PK_MAX_NDIM);
    for (uint32_t i = 0; i < t->u.seq.n; i++) {
        const cs_pk_obj *v = &p->objs[t->u.seq.items[i]];
        if (v->type != CS_PK_INT || v->u.i < 0 || v->u.i > ((int64_t)1 << 40))
            return CS_PK_FAIL(r, CS_E_FORMAT, "tensor %s has a bad entry", what);
        out[i] = v->u.i;
    }
    *n = (int)t->u.seq.n;
    return CS_OK;
}

static cs_status cs_pk_reduce(cs_pk_run *r) {
    cs_pickle *p = r->p;
    uint32_t args, fn;
    CS_TRY(cs_pk_pop(r, &args));
    CS_TRY(cs_pk_pop(r, &fn));
    const cs_pk_obj *f = &p->objs[fn];
    const cs_pk_obj *a = &p->objs[args];
    if (f->type != CS_PK_GLOBAL || a->type != CS_PK_TUPLE)
        return CS_PK_FAIL(r, CS_E_FORMAT, "REDUCE of something that is not an allowed callable");
    uint32_t id;
    if (f->sub == CS_PKG_ORDERED_DICT) {
        if (a->u.seq.n != 0)
            return CS_PK_FAIL(r, CS_E_FORMAT, "OrderedDict() with arguments is not supported");
        CS_TRY(cs_pk_new(r, CS_PK_DICT, &id));
        p->objs[id].sub = 1;
        return cs_pk_push(r, id);
    }
    if (f->sub != CS_PKG_REBUILD_TENSOR_V2 && f->sub != CS_PKG_REBUILD_TENSOR)
        return CS_PK_FAIL(r, CS_E_FORMAT, "calling a storage type is not allowed");
    uint32_t n = a->u.seq.n;
    /* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
     * _rebuild_tensor(storage, offset, size, stride) */
    if (f->sub == CS_PKG_REBUILD_TENSOR_V2 ? (n < 6 || n > 7) : n != 4)
        return CS_PK_FAIL(r, CS_E_FORMAT, "tensor rebuild call with %u arguments", n);
    const uint32_t *it = a->u.seq.items;
    if (!cs_pk_is(p, it[0], CS_PK_STORAGE))
        return CS_PK_FAIL(r, CS_E_FORMAT, "tensor rebuild without a storage");
    if (!cs_pk_is(p, it[1], CS_PK_INT) || p->objs[it[1]].u.i < 0)
        return CS_PK_FAIL(r, CS_E_FORMAT, "bad tensor storage offset");
    cs_pk_tensor t;
    memset(&t, 0, sizeof t);
    int nd_size, nd_stride;
    CS_TRY(cs_pk_int_tuple(r, it[2], t.shape, &nd_size, "size"));
    CS_TRY(cs_pk_int_tuple(r, it[3], t.stride, &nd_stride, "stride"));
    if (nd_size != nd_stride)
        return CS_PK_FAIL(r, CS_E_FORMAT, "tensor size and stride have different lengths");
    /* backward_hooks: an empty OrderedDict, or None in files of PyTorch 0.4 (the official one) */
    if (n >= 6 && (!cs_pk_is(p, it[4], CS_PK_BOOL) ||
                   !(cs_pk_is(p, it[5], CS_PK_NONE) ||
                     (cs_pk_is(p, it[5], CS_PK_DICT) && p->objs[it[5]].u.seq.n == 0))))
        return CS_PK_FAIL(r, CS_E_FORMAT, "tensor with backward hooks or bad requires_grad");
    t.ndim = nd_size;
    t.offset = p->objs[it[1]].u.i;
    t.storage = p->objs[it[0]].u.index;
    if (!cs_pk_grow32((void **)&p->tensors, &p->tensors_cap, (size_t)p->ntensors + 1,
                      sizeof(cs_pk_tensor)))
        return cs_pk_nomem(r);
    p->tensors[p->ntensors] = t;
    CS_TRY(cs_pk_new(r, CS_PK_TENSOR, &id));
    p->objs[id].u.index = p->ntensors++;
    return cs_pk_push(r, id);
}

/* ---- memo ----------------------------------------------------------------------------------- */

static cs_status cs_pk_memo_put(cs_pk_run *r, uint64_t idx) {
    cs_pickle *p = r->p;
    uint32_t top;
    CS_TRY(cs_pk_top(r, &top));
    /* picklers number the memo consecutively, so an index above the object count is hostile */
    if (idx > (uint64_t)p->max_objs)
        return CS_PK_FAIL(r, CS_E_FORMAT, "memo index %llu out of range", (unsigned long long)idx);
    size_t old = p->memo_cap;
    if (idx >= old) {
        if (!cs_pk_grow((void **)&p->memo, &p->memo_cap, (size_t)idx + 1, sizeof(uint32_t)))
            return cs_pk_nomem(r);
        for (size_t i = old; i < p->memo_cap; i++) p->memo[i] = CS_PK_NONE_ID;
    }
    if (p->memo[idx] == CS_PK_NONE_ID) p->memo_count++;
    p->memo[idx] = top;
    return CS_OK;
}

static cs_status cs_pk_memo_get(cs_pk_run *r, uint64_t idx) {
    cs_pickle *p = r->p;
    if (idx >= p->memo_cap || p->memo[idx] == CS_PK_NONE_ID)
        return CS_PK_FAIL(r, CS_E_FORMAT, "memo index %llu is not set", (unsigned long long)idx);
    return cs_pk_push(r, p->memo[idx]);
}

/* ---- the loop ------------------------------------------------------------------------------- */

/* The opcode r->op, everything but STOP, in four groups (push a new value; rearrange the stack
 * and fill containers; the memo; framing and objects), each passing the opcodes it does not know
 * on to the next; the last refuses them. */

/* A string or bytes object whose length is a little-endian field of nbytes bytes (a negative
 * length refused when is_signed: BINSTRING). */
static cs_status cs_pk_op_sized_str(cs_pk_run *r, int nbytes, int is_signed, uint8_t type) {
    uint64_t n;
    CS_TRY(cs_pk_le(r, nbytes, &n));
    if (is_signed && (int32_t)(uint32_t)n < 0) return CS_PK_FAIL(r, CS_E_FORMAT, "negative string size");
    return cs_pk_str(r, type, n);
}

static cs_status cs_pk_push_new(cs_pk_run *r, uint8_t type) {
    uint32_t id;
    CS_TRY(cs_pk_new(r, type, &id));
    return cs_pk_push(r, id);
}

static cs_status cs_pk_op_binfloat(cs_pk_run *r) { /* big-endian IEEE double */
    CS_TRY(cs_pk_need(r, 8));
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x = (x << 8) | r->buf[r->pos + (size_t)i];
    r->pos += 8;
    double d;
    memcpy(&d, &x, sizeof d);
    uint32_t id;
    CS_TRY(cs_pk_new(r, CS_PK_FLOAT, &id));
    r->p->objs[id].u.f = d;
    return cs_pk_push(r, id);
}

static cs_status cs_pk_op_object(cs_pk_run *r);
static cs_status cs_pk_op_memo(cs_pk_run *r);
static cs_status cs_pk_op_stack(cs_pk_run *r);

/* Opcodes that push one new value: None, booleans, integers, floats, strings, empty containers. */
static cs_status cs_pk_op_value(cs_pk_run *r) {
    uint64_t v, n;
    uint32_t id;
    switch (r->op) {
    case 'N': return cs_pk_push_new(r, CS_PK_NONE); /* NONE */
    case 0x88: /* NEWTRUE */
    case 0x89: /* NEWFALSE */
        CS_TRY(cs_pk_new(r, CS_PK_BOOL, &id));
        r->p->objs[id].u.i = r->op == 0x88;
        return cs_pk_push(r, id);
    case 'J': /* BININT */
        CS_TRY(cs_pk_le(r, 4, &v));
        return cs_pk_int(r, (int64_t)(int32_t)(uint32_t)v);
    case 'K': /* BININT1 */
        CS_TRY(cs_pk_le(r, 1, &v));
        return cs_pk_int(r, (int64_t)v);
    case 'M': /* BININT2 */
        CS_TRY(cs_pk_le(r, 2, &v));
        return cs_pk_int(r, (int64_t)v);
    case 0x8a: /* LONG1 */
        CS_TRY(cs_pk_le(r, 1, &n));
        return cs_pk_long(r, n);
    case 0x8b: /* LONG4 */
        CS_TRY(cs_pk_le(r, 4, &n));
        if ((int32_t)(uint32_t)n < 0) return CS_PK_FAIL(r, CS_E_FORMAT, "negative LONG4 size");
        return cs_pk_long(r, n);
    case 'G': return cs_pk_op_binfloat(r);                      /* BINFLOAT */
    case 'X': return cs_pk_op_sized_str(r, 4, 0, CS_PK_STR);    /* BINUNICODE */
    case 0x8c: return cs_pk_op_sized_str(r, 1, 0, CS_PK_STR);   /* SHORT_BINUNICODE */
    case 0x8d: return cs_pk_op_sized_str(r, 8, 0, CS_PK_STR);   /* BINUNICODE8 */
    case 'U': return cs_pk_op_sized_str(r, 1, 0, CS_PK_STR);    /* SHORT_BINSTRING (Python 2 str) */
    case 'T': return cs_pk_op_sized_str(r, 4, 1, CS_PK_STR);    /* BINSTRING */
    case 'C': return cs_pk_op_sized_str(r, 1, 0, CS_PK_BYTES);  /* SHORT_BINBYTES */
    case 'B': return cs_pk_op_sized_str(r, 4, 0, CS_PK_BYTES);  /* BINBYTES */
    case 0x8e: return cs_pk_op_sized_str(r, 8, 0, CS_PK_BYTES); /* BINBYTES8 */
    case '}': return cs_pk_push_new(r, CS_PK_DICT);             /* EMPTY_DICT */
    case ']': return cs_pk_push_new(r, CS_PK_LIST);             /* EMPTY_LIST */
    case ')': return cs_pk_push_new(r, CS_PK_TUPLE);            /* EMPTY_TUPLE */
    default: return cs_pk_op_stack(r);
    }
}

/* APPENDS ('e') / SETITEMS ('u'): the items above the last MARK into the container below it. */
static cs_status cs_pk_op_add_items(cs_pk_run *r) {
    cs_pickle *p = r->p;
    size_t start = 0;
    CS_TRY(cs_pk_pop_mark(r, &start));
    if (start == 0 || start <= cs_pk_floor(p)) return CS_PK_FAIL(r, CS_E_FORMAT, "no container below MARK");
    uint32_t a = p->stack[start - 1];
    if (!cs_pk_is(p, a, r->op == 'e' ? CS_PK_LIST : CS_PK_DICT))
        return CS_PK_FAIL(r, CS_E_FORMAT, "%s to the wrong type", r->op == 'e' ? "APPENDS" : "SETITEMS");
    if (r->op == 'u' && (p->nstack - start) % 2) return CS_PK_FAIL(r, CS_E_FORMAT, "odd number of dict items");
    for (size_t i = start; i < p->nstack; i++) CS_TRY(cs_pk_seq_add(r, a, p->stack[i]));
    p->nstack = start;
    return CS_OK;
}

/* Opcodes that rearrange the stack or build and fill containers. */
static cs_status cs_pk_op_stack(cs_pk_run *r) {
    cs_pickle *p = r->p;
    uint64_t n;
    uint32_t a, b, id;
    size_t start = 0;
    switch (r->op) {
    case '(': /* MARK */
        if (!cs_pk_grow((void **)&p->marks, &p->marks_cap, p->nmarks + 1, sizeof(size_t))) return cs_pk_nomem(r);
        if (p->nmarks >= CS_PK_MAX_STACK) return CS_PK_FAIL(r, CS_E_FORMAT, "too many MARKs");
        p->marks[p->nmarks++] = p->nstack;
        return CS_OK;
    case '0': return cs_pk_pop(r, &id); /* POP */
    case '1': /* POP_MARK */
        CS_TRY(cs_pk_pop_mark(r, &start));
        p->nstack = start;
        return CS_OK;
    case '2': /* DUP */
        CS_TRY(cs_pk_top(r, &id));
        return cs_pk_push(r, id);
    case 't': /* TUPLE */
    case 'l': /* LIST */
    case 'd': /* DICT */
        CS_TRY(cs_pk_pop_mark(r, &start));
        if (r->op == 'd' && (p->nstack - start) % 2) return CS_PK_FAIL(r, CS_E_FORMAT, "odd number of dict items");
        CS_TRY(cs_pk_collect(r, r->op == 't' ? CS_PK_TUPLE : r->op == 'l' ? CS_PK_LIST : CS_PK_DICT, start, &id));
        return cs_pk_push(r, id);
    case 0x85: /* TUPLE1 */
    case 0x86: /* TUPLE2 */
    case 0x87: /* TUPLE3 */
        n = (uint64_t)(r->op - 0x84);
        if (p->nstack < cs_pk_floor(p) + n) return CS_PK_FAIL(r, CS_E_FORMAT, "stack underflow");
        CS_TRY(cs_pk_collect(r, CS_PK_TUPLE, p->nstack - n, &id));
        return cs_pk_push(r, id);
    case 'a': /* APPEND */
        CS_TRY(cs_pk_pop(r, &b));
        CS_TRY(cs_pk_top(r, &a));
        if (!cs_pk_is(p, a, CS_PK_LIST)) return CS_PK_FAIL(r, CS_E_FORMAT, "APPEND to a non-list");
        return cs_pk_seq_add(r, a, b);
    case 'e': /* APPENDS */
    case 'u': /* SETITEMS */
        return cs_pk_op_add_items(r);
    case 's': /* SETITEM */
        CS_TRY(cs_pk_pop(r, &b));
        CS_TRY(cs_pk_pop(r, &id));
        CS_TRY(cs_pk_top(r, &a));
        if (!cs_pk_is(p, a, CS_PK_DICT)) return CS_PK_FAIL(r, CS_E_FORMAT, "SETITEM to a non-dict");
        CS_TRY(cs_pk_seq_add(r, a, id));
        return cs_pk_seq_add(r, a, b);
    default: return cs_pk_op_memo(r);
    }
}

/* The memo: PUT and GET with 1- or 4-byte indices, MEMOIZE. */
static cs_status cs_pk_op_memo(cs_pk_run *r) {
    uint64_t v;
    switch (r->op) {
    case 'q': /* BINPUT */
    case 'r': /* LONG_BINPUT */
        CS_TRY(cs_pk_le(r, r->op == 'q' ? 1 : 4, &v));
        return cs_pk_memo_put(r, v);
    case 0x94: return cs_pk_memo_put(r, r->p->memo_count); /* MEMOIZE: index = number of memo entries, as in Python */
    case 'h': /* BINGET */
    case 'j': /* LONG_BINGET */
        CS_TRY(cs_pk_le(r, r->op == 'h' ? 1 : 4, &v));
        return cs_pk_memo_get(r, v);
    default: return cs_pk_op_object(r);
    }
}

/* Framing (PROTO, FRAME) and objects: the allowed globals, persistent ids (storages), calls
 * (tensor rebuilds, OrderedDict), BUILD. Anything else is refused. */
static cs_status cs_pk_op_object(cs_pk_run *r) {
    cs_pickle *p = r->p;
    uint64_t v;
    uint32_t a, b;
    switch (r->op) {
    case 0x80: /* PROTO */
        CS_TRY(cs_pk_u8(r, &v));
        if (v < 2 || v > 5) return CS_PK_FAIL(r, CS_E_UNSUPPORTED, "pickle protocol %u (2 to 5 supported)", (unsigned)v);
        return CS_OK;
    case 0x95: /* FRAME: a length hint only */
        CS_TRY(cs_pk_le(r, 8, &v));
        if (v > r->len - r->pos) CS_TRY(cs_pk_need(r, v > SIZE_MAX ? SIZE_MAX : (size_t)v));
        return CS_OK;
    case 'c': { /* GLOBAL */
        const char *mod, *name;
        size_t modn, namen;
        CS_TRY(cs_pk_read_line(r, &mod, &modn));
        CS_TRY(cs_pk_read_line(r, &name, &namen));
        return cs_pk_resolve_global(r, mod, modn, name, namen);
    }
    case 0x93: /* STACK_GLOBAL */
        CS_TRY(cs_pk_pop(r, &b));
        CS_TRY(cs_pk_pop(r, &a));
        if (!cs_pk_is(p, a, CS_PK_STR) || !cs_pk_is(p, b, CS_PK_STR))
            return CS_PK_FAIL(r, CS_E_FORMAT, "STACK_GLOBAL of non-strings");
        return cs_pk_resolve_global(r, p->objs[a].u.str.s, p->objs[a].u.str.len, p->objs[b].u.str.s,
                                    p->objs[b].u.str.len);
    case 'Q': return cs_pk_persid(r); /* BINPERSID */
    case 'R': return cs_pk_reduce(r); /* REDUCE */
    case 'b': /* BUILD: only the OrderedDict's _metadata attribute, which we ignore */
        CS_TRY(cs_pk_pop(r, &b));
        CS_TRY(cs_pk_top(r, &a));
        if (!cs_pk_is(p, a, CS_PK_DICT) || !p->objs[a].sub)
            return CS_PK_FAIL(r, CS_E_FORMAT, "BUILD is only allowed on an OrderedDict");
        return CS_OK;
    default: return CS_PK_FAIL(r, CS_E_FORMAT, "unsupported pickle opcode");
    }
}

cs_status cs_pickle_run(cs_pickle *p, const unsigned char *buf, size_t len, size_t *used,
                        uint32_t *root) {
    cs_pk_run run = {p, buf, len, 0, 0, 0};
    cs_pk_run *r = &run;
    p->nstack = 0;
    p->nmarks = 0;
    for (size_t i = 0; i < p->memo_cap; i++) p->memo[i] = CS_PK_NONE_ID;
    p->memo_count = 0;
    /* each object costs at least one byte of opcode: bound the count by the input */
    uint64_t lim = (uint64_t)p->nobjs + (uint64_t)len + 16;
    p->max_objs = lim > CS_PK_MAX_OBJS ? CS_PK_MAX_OBJS : (uint32_t)lim;

    for (;;) {
        uint64_t v;
        r->op_pos = r->pos;
        r->op = -1;
        CS_TRY(cs_pk_u8(r, &v));
        r->op = (int)v;
        if (r->op == '.') { /* STOP */
            uint32_t id;
            CS_TRY(cs_pk_pop(r, &id));
            *used = r->pos;
            *root = id;
            return CS_OK;
        }
        CS_TRY(cs_pk_op_value(r));
    }
}

uint32_t cs_pk_dict_get(const cs_pickle *p, uint32_t dict, const char *key) {
    const cs_pk_obj *d = &p->objs[dict];
    if (d->type != CS_PK_DICT) return UINT32_MAX;
    for (uint32_t i = 0; i + 1 < d->u.seq.n; i += 2)
        if (cs_pk_str_eq(p, d->u.seq.items[i], key)) return d->u.seq.items[i + 1];
    return UINT32_MAX;
}

int cs_pk_str_eq(const cs_pickle *p, uint32_t obj, const char *s) {
    const cs_pk_obj *o = &p->objs[obj];
    return o->type == CS_PK_STR && cs_pk_eq(o->u.str.s, o->u.str.len, s);
}
