/* Internal: a strict JSON validator run over a whole text before cJSON parses it.
 *
 * cJSON is lenient where a hostile file can exploit it: it stops after the first value (trailing
 * garbage, two documents back to back), keeps the first of duplicate keys (Python's json keeps the
 * last, so the two readers would disagree on the same file), truncates strings at "\u0000" and
 * copies invalid UTF-8 through. This pass accepts exactly RFC 8259 JSON, one value and nothing but
 * whitespace after it, and additionally refuses what the engine cannot carry faithfully: duplicate
 * keys in an object (compared after decoding escapes), "\u0000" and raw NUL bytes, invalid UTF-8
 * anywhere (overlong forms, surrogates encoded in UTF-8, code points above U+10FFFF, truncated or
 * stray continuation bytes), unpaired UTF-16 surrogate escapes, a byte-order mark, nesting deeper
 * than max_depth and texts longer than max_bytes. It allocates only the key tables of the objects
 * currently open (freed before it returns) and recurses at most max_depth levels. */
#ifndef CS_JSON_STRICT_H
#define CS_JSON_STRICT_H

#include "core/common.h"

#define CS_JSON_DEFAULT_MAX_DEPTH 64

/* The first problem found: 1-based line ('\n' separated) and column (in characters: bytes that
 * are not UTF-8 continuation bytes), the byte offset, and a static description. */
typedef struct {
    int line;
    int col;
    size_t offset;
    const char *problem;
} cs_json_problem;

/* Validate text (len bytes, need not be NUL-terminated). Returns 1 when it is acceptable, 0 with
 * *p filled in otherwise (-1 with p->problem = "out of memory" when a key table cannot grow). */
int cs_json_strict_validate(const char *text, size_t len, size_t max_bytes, int max_depth,
                            cs_json_problem *p);

/* The same as a status: CS_OK, or CS_E_FORMAT with the message "name:LINE:COL: problem"
 * (CS_E_NOMEM when out of memory). */
cs_status cs_json_strict_check(const char *name, const char *text, size_t len, size_t max_bytes,
                               int max_depth);

#endif
