/* A restricted pickle interpreter for torch.save state dicts (internal to the weights loader).
 *
 * It understands the opcodes of protocols 2 to 5 that torch.save emits for a state dict and
 * builds plain data (None, bool, int, float, str, bytes, tuple, list, dict) plus three torch
 * objects: storage references (persistent ids), tensor views (_rebuild_tensor_v2) and
 * OrderedDicts. Only an allow-list of globals can be named; nothing from the file is ever
 * executed or imported. Every read is bounded by the buffer; the interpreter never recurses,
 * and the number of objects, the stack, the memo and string lengths are bounded by the size of
 * the pickle itself, so memory use is linear in the input.
 *
 * Ownership: a cs_pickle owns every object it creates; strings point into the caller's buffer,
 * which must outlive the cs_pickle. Objects stay valid across several cs_pickle_run calls on the
 * same context (the legacy format is a sequence of pickles) until cs_pickle_free. */
#ifndef CS_PICKLE_H
#define CS_PICKLE_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#define CS_PK_MAX_NDIM 4

typedef enum cs_pk_type {
    CS_PK_NONE = 1,
    CS_PK_BOOL,
    CS_PK_INT,     /* fits int64 */
    CS_PK_BIGINT,  /* LONG1/LONG4 wider than 8 bytes: raw little-endian two's complement in s/len */
    CS_PK_FLOAT,
    CS_PK_STR,     /* BINUNICODE*, BINSTRING* (bytes as written, not NUL-terminated) */
    CS_PK_BYTES,
    CS_PK_TUPLE,
    CS_PK_LIST,
    CS_PK_DICT,    /* dict or OrderedDict; items are key, value, key, value, ... */
    CS_PK_GLOBAL,  /* one of the allowed globals, see cs_pk_global */
    CS_PK_STORAGE, /* a persistent id ('storage', type, key, location, numel[, None]) */
    CS_PK_TENSOR   /* _rebuild_tensor_v2(storage, offset, size, stride, ...) */
} cs_pk_type;

typedef enum cs_pk_global {
    CS_PKG_ORDERED_DICT = 1,
    CS_PKG_REBUILD_TENSOR_V2,
    CS_PKG_REBUILD_TENSOR,
    CS_PKG_STORAGE /* a torch.<X>Storage type; the dtype is in the object */
} cs_pk_global;

/* Element types of torch storages. Only FLOAT and LONG are loadable weights. */
typedef enum cs_pk_dtype {
    CS_DT_FLOAT = 1, /* torch.FloatStorage, float32 */
    CS_DT_LONG,      /* torch.LongStorage, int64 */
    CS_DT_DOUBLE,
    CS_DT_HALF,
    CS_DT_BFLOAT16,
    CS_DT_INT,
    CS_DT_SHORT,
    CS_DT_CHAR,
    CS_DT_BYTE,
    CS_DT_BOOL
} cs_pk_dtype;

const char *cs_pk_dtype_name(int dtype); /* "float32", ... */
int cs_pk_dtype_size(int dtype);         /* bytes per element */

typedef struct cs_pk_obj {
    uint8_t type;  /* cs_pk_type */
    uint8_t sub;   /* GLOBAL: cs_pk_global; STORAGE: cs_pk_dtype; DICT: 1 if OrderedDict */
    union {
        int64_t i;  /* BOOL, INT */
        double f;   /* FLOAT */
        struct {
            const char *s; /* STR, BYTES, BIGINT: points into the pickle buffer */
            size_t len;
        } str;
        struct {
            uint32_t *items; /* TUPLE, LIST, DICT: object ids */
            uint32_t n, cap;
        } seq;
        uint32_t index; /* STORAGE: into storages[]; TENSOR: into tensors[]; GLOBAL: dtype */
    } u;
} cs_pk_obj;

typedef struct cs_pk_storage {
    const char *key; /* not NUL-terminated */
    size_t key_len;
    int dtype;       /* cs_pk_dtype */
    int64_t numel;   /* as the persistent id says */
} cs_pk_storage;

typedef struct cs_pk_tensor {
    uint32_t storage; /* index into storages[] */
    int ndim;
    int64_t offset; /* in elements */
    int64_t shape[CS_PK_MAX_NDIM];
    int64_t stride[CS_PK_MAX_NDIM];
} cs_pk_tensor;

typedef struct cs_pickle {
    const char *what;        /* file name for messages */
    int allow_torch;         /* 0: plain data only (no globals at all) */
    int eof_is_truncation;   /* the buffer is the rest of the file: running off it = truncated */
    uint64_t base;           /* offset of buf[0] within the file, for messages */

    cs_pk_obj *objs; /* (nobjs) */
    uint32_t nobjs, objs_cap, max_objs;
    cs_pk_storage *storages;
    uint32_t nstorages, storages_cap;
    cs_pk_tensor *tensors;
    uint32_t ntensors, tensors_cap;

    uint32_t *stack; /* object ids */
    size_t nstack, stack_cap;
    size_t *marks;   /* stack heights */
    size_t nmarks, marks_cap;
    uint32_t *memo;  /* object ids, UINT32_MAX = unset */
    size_t memo_cap;
    size_t memo_count; /* entries set (MEMOIZE's next index) */
} cs_pickle;

void cs_pickle_init(cs_pickle *p, const char *what, int allow_torch);
void cs_pickle_free(cs_pickle *p);

/* Run one pickle from buf[0..len). On success *used is the number of bytes up to and including
 * STOP and *root the id of the result. Memo and stack are reset on each call; objects persist. */
cs_status cs_pickle_run(cs_pickle *p, const unsigned char *buf, size_t len, size_t *used,
                        uint32_t *root);

static inline const cs_pk_obj *cs_pk_get(const cs_pickle *p, uint32_t id) { return &p->objs[id]; }

/* Lookup in a DICT by string key; returns the value id or UINT32_MAX. */
uint32_t cs_pk_dict_get(const cs_pickle *p, uint32_t dict, const char *key);

/* True if obj is a STR equal to s. */
int cs_pk_str_eq(const cs_pickle *p, uint32_t obj, const char *s);

#endif
