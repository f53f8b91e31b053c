/* Internal: the header of a safetensors file (Hugging Face's format), read with every size and
 * offset bounded. Layout: u64 little-endian N | N bytes of JSON | the data. The JSON is an object
 * mapping each tensor name to {"dtype": "F32"|..., "shape": [..], "data_offsets": [begin, end]}
 * (offsets relative to the data), plus an optional "__metadata__" object of strings.
 *
 * Checks: N <= CS_SAFETENSORS_MAX_HEADER and inside the file; the JSON strict (json_strict.h:
 * no duplicate names, valid UTF-8, no trailing bytes); exactly those keys per tensor; a known
 * dtype; at most 4 dimensions, each a non-negative integer; offsets integers with
 * begin <= end <= data size and end - begin = numel x element size (overflow-checked); names of
 * 1..1024 bytes without control characters; and the tensors tile the data exactly, as the format
 * requires (sorted by offset: the first begins at 0, each where the previous ends, the last at
 * the end of the file), so no two overlap and no bytes hide between them. */
#ifndef CS_IO_SAFETENSORS_H
#define CS_IO_SAFETENSORS_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#define CS_SAFETENSORS_MAX_HEADER ((size_t)100 << 20) /* the format's own limit (100 MB) */

typedef struct cs_st_tensor {
    char *name;       /* owned */
    int dtype;        /* cs_pk_dtype (io/pickle.h); 0 for a dtype copyscope cannot convert */
    char dtype_name[8]; /* as in the file: "F32", "BF16", ... */
    int elem_size;    /* bytes per element */
    int ndim;         /* 0..4 */
    int64_t shape[4];
    size_t numel;
    uint64_t begin;   /* absolute byte offset of the first element in the file */
} cs_st_tensor;

typedef struct cs_st_header {
    cs_st_tensor *t;  /* (n) in file order of the JSON object */
    size_t n;
    uint64_t data_start; /* 8 + N */
} cs_st_header;

/* 1 if buf starts like a safetensors file (8 bytes of header length, then '{'). */
int cs_safetensors_sniff(const unsigned char *buf, size_t len);
/* Parse and check the header of the len-byte file in buf; name is used in messages (CS_E_FORMAT
 * or CS_E_TRUNCATED "name: problem"). */
cs_status cs_safetensors_parse(const unsigned char *buf, size_t len, const char *name, cs_st_header *out);
void cs_safetensors_free(cs_st_header *h); /* NULL members are fine */

#endif
