/* safetensors header reader (see io/safetensors.h). */
#include "io/safetensors.h"

#include "core/common.h"
#include "io/json_strict.h"
#include "io/pickle.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define CS_ST_MAX_TENSORS 100000
#define CS_ST_MAX_NAME 1024

static const struct {
    const char *name;
    int size, dtype; /* dtype 0: valid in the format, not loadable here */
} g_dtypes[] = {
    {"F32", 4, CS_DT_FLOAT}, {"F16", 2, CS_DT_HALF}, {"BF16", 2, CS_DT_BFLOAT16}, {"I64", 8, CS_DT_LONG},
    {"F64", 8, 0},           {"I32", 4, 0},          {"U32", 4, 0},               {"I16", 2, 0},
    {"U16", 2, 0},           {"I8", 1, 0},           {"U8", 1, 0},                {"BOOL", 1, 0},
    {"U64", 8, 0},           {"F8_E4M3", 1, 0},      {"F8_E5M2", 1, 0},
};

int cs_safetensors_sniff(const unsigned char *buf, size_t len) {
    /* a header length, then '{'; not a zip ("PK") or a pickle (0x80), the torch formats. The
     * length is checked by the parser, which names the problem (too long, past the end). */
    return len >= 9 && buf[8] == '{' && buf[0] != 0x80 && !(buf[0] == 'P' && buf[1] == 'K');
}

void cs_safetensors_free(cs_st_header *h) {
    if (!h) return;
    for (size_t i = 0; h->t && i < h->n; i++) free(h->t[i].name);
    free(h->t);
    memset(h, 0, sizeof *h);
}

/* A JSON number that is an integer in [0, 2^53]. */
static int cs_st_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

static int cs_st_cmp_begin(const void *a, const void *b) {
    const cs_st_tensor *x = *(const cs_st_tensor *const *)a, *y = *(const cs_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* One tensor entry. */
static cs_status cs_st_entry(const char *path, const cJSON *it, uint64_t data_len, cs_st_tensor *t, uint64_t *end) {
    const char *nm = it->string;
    size_t nl = strlen(nm);
    int ctrl = 0;
    for (size_t j = 0; j < nl; j++) ctrl |= (unsigned char)nm[j] < 32 || nm[j] == 127;
    if (nl == 0 || nl > CS_ST_MAX_NAME || ctrl) return CS_FAIL(CS_E_FORMAT, "%s: bad tensor name in the header", path);
    if (!cJSON_IsObject(it)) return CS_FAIL(CS_E_FORMAT, "%s: tensor %s: entry is not an object", path, nm);
    const cJSON *dt = NULL, *sh = NULL, *off = NULL, *f;
    cJSON_ArrayForEach(f, it) {
        if (!strcmp(f->string, "dtype")) dt = f;
        else if (!strcmp(f->string, "shape")) sh = f;
        else if (!strcmp(f->string, "data_offsets")) off = f;
        else return CS_FAIL(CS_E_FORMAT, "%s: tensor %s: unknown field \"%s\"", path, nm, f->string);
    }
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return CS_FAIL(CS_E_FORMAT, "%s: tensor %s: needs a dtype string, a shape list and data_offsets", path, nm);
    size_t k = 0;
    for (; k < sizeof g_dtypes / sizeof *g_dtypes; k++)
        if (!strcmp(dt->valuestring, g_dtypes[k].name)) break;
    if (k == sizeof g_dtypes / sizeof *g_dtypes)
        return CS_FAIL(CS_E_FORMAT, "%s: tensor %s: unknown dtype \"%.16s\"", path, nm, dt->valuestring);
    t->dtype = g_dtypes[k].dtype;
    t->elem_size = g_dtypes[k].size;
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", g_dtypes[k].name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > 4) return CS_FAIL(CS_E_UNSUPPORTED, "%s: tensor %s has %d dimensions (at most 4)", path, nm, nd);
    t->ndim = nd;
    uint64_t numel = 1, bytes;
    int i = 0;
    cJSON_ArrayForEach(f, sh) {
        uint64_t d;
        if (!cs_st_uint(f, &d)) return CS_FAIL(CS_E_FORMAT, "%s: tensor %s: bad shape", path, nm);
        t->shape[i++] = (int64_t)d;
        if (__builtin_mul_overflow(numel, d, &numel) || numel > ((uint64_t)1 << 40))
            return CS_FAIL(CS_E_FORMAT, "%s: tensor %s is implausibly large", path, nm);
    }
    uint64_t b, e;
    if (cJSON_GetArraySize(off) != 2 || !cs_st_uint(off->child, &b) || !cs_st_uint(off->child->next, &e) || b > e)
        return CS_FAIL(CS_E_FORMAT, "%s: tensor %s: data_offsets must be [begin, end] with begin <= end", path, nm);
    if (e > data_len)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated: tensor %s ends at data byte %llu, the file has %llu", path, nm,
                       (unsigned long long)e, (unsigned long long)data_len);
    if (__builtin_mul_overflow(numel, (uint64_t)t->elem_size, &bytes) || bytes != e - b)
        return CS_FAIL(CS_E_FORMAT, "%s: tensor %s: %llu bytes for %llu elements of %s", path, nm,
                       (unsigned long long)(e - b), (unsigned long long)numel, t->dtype_name);
    t->numel = (size_t)numel;
    t->begin = b;
    *end = e;
    t->name = strdup(nm);
    return t->name ? CS_OK : CS_FAIL(CS_E_NOMEM, "out of memory");
}

cs_status cs_safetensors_parse(const unsigned char *buf, size_t len, const char *path, cs_st_header *out) {
    memset(out, 0, sizeof *out);
    if (len < 8) return CS_FAIL(CS_E_TRUNCATED, "%s: truncated: %zu bytes, no safetensors header", path, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > CS_SAFETENSORS_MAX_HEADER)
        return CS_FAIL(CS_E_FORMAT, "%s: safetensors header of %llu bytes (at most %zu)", path, (unsigned long long)n,
                       CS_SAFETENSORS_MAX_HEADER);
    if (n > len - 8)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated: header of %llu bytes, the file has %zu", path,
                       (unsigned long long)n, len - 8);
    const char *text = (const char *)buf + 8;
    CS_TRY(cs_json_strict_check(path, text, (size_t)n, CS_SAFETENSORS_MAX_HEADER, 4));
    cJSON *root = cJSON_ParseWithLength(text, (size_t)n);
    if (!root) return CS_FAIL(CS_E_NOMEM, "%s: out of memory reading the header", path);
    cs_status st = CS_OK;
    cs_st_tensor **ord = NULL;
    uint64_t *ends = NULL;
    const uint64_t data_len = len - 8 - n;
    out->data_start = 8 + n;
    if (!cJSON_IsObject(root)) {
        st = CS_FAIL(CS_E_FORMAT, "%s: the safetensors header is not a JSON object", path);
        goto done;
    }
    size_t count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) count += strcmp(it->string, "__metadata__") != 0;
    if (count > CS_ST_MAX_TENSORS) {
        st = CS_FAIL(CS_E_FORMAT, "%s: %zu tensors (at most %d)", path, count, CS_ST_MAX_TENSORS);
        goto done;
    }
    out->t = cs_calloc(count ? count : 1, sizeof *out->t, "tensor table");
    ord = cs_calloc(count ? count : 1, sizeof *ord, "tensor order");
    ends = cs_calloc(count ? count : 1, sizeof *ends, "tensor ends");
    if (!out->t || !ord || !ends) {
        st = CS_E_NOMEM;
        goto done;
    }
    cJSON_ArrayForEach(it, root) {
        if (!strcmp(it->string, "__metadata__")) {
            const cJSON *m;
            if (!cJSON_IsObject(it)) st = CS_FAIL(CS_E_FORMAT, "%s: __metadata__ is not an object", path);
            cJSON_ArrayForEach(m, it) if (st == CS_OK && !cJSON_IsString(m))
                st = CS_FAIL(CS_E_FORMAT, "%s: __metadata__.%s is not a string", path, m->string);
            if (st != CS_OK) goto done;
            continue;
        }
        cs_st_tensor *t = &out->t[out->n];
        CS_TRY_GOTO(st, cs_st_entry(path, it, data_len, t, &ends[out->n]), done);
        t->begin += out->data_start;
        ord[out->n] = t;
        out->n++;
    }
    /* the tensors tile the data: sorted by offset, no gap and no overlap, nothing after the last */
    for (size_t i = 0; i < out->n; i++) ends[i] += out->data_start; /* absolute, like begin */
    qsort(ord, out->n, sizeof *ord, cs_st_cmp_begin);
    uint64_t pos = out->data_start;
    for (size_t i = 0; i < out->n; i++) {
        const cs_st_tensor *t = ord[i];
        uint64_t end = ends[t - out->t];
        if (t->begin != pos) {
            st = CS_FAIL(CS_E_FORMAT, "%s: tensor %s starts at data byte %llu, expected %llu (%s)", path, t->name,
                         (unsigned long long)(t->begin - out->data_start), (unsigned long long)(pos - out->data_start),
                         t->begin < pos ? "it overlaps another tensor" : "bytes between tensors");
            goto done;
        }
        pos = end;
    }
    if (pos != len) {
        st = CS_FAIL(CS_E_FORMAT, "%s: %llu bytes after the last tensor", path, (unsigned long long)(len - pos));
        goto done;
    }
done:
    cJSON_Delete(root);
    free(ord);
    free(ends);
    if (st != CS_OK) cs_safetensors_free(out);
    return st;
}
