/* Strict JSON validation (see json_strict.h): a recursive-descent pass over RFC 8259's grammar
 * that stops at the first problem and says where it is. */
#include "io/json_strict.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A key of an open object: its decoded bytes live in the arena at [off, off + len). */
typedef struct {
    size_t off, len;
    uint64_t hash;
} cs_jkey;

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    int max_depth;
    const char *problem; /* set on the first failure; pos then points at the culprit */
    size_t problem_at;
    int nomem;
    unsigned char *arena; /* decoded keys of every open object, innermost last */
    size_t arena_len, arena_cap;
    cs_jkey *keys; /* same order as the arena */
    size_t nkeys, keys_cap;
} cs_jparser;

static int cs_jfail(cs_jparser *p, size_t at, const char *problem) {
    if (!p->problem) {
        p->problem = problem;
        p->problem_at = at;
    }
    return 0;
}

static void cs_jskip_ws(cs_jparser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int cs_jhex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at pos (after "\u"): the code unit, or -1. */
static long cs_jhex4(const cs_jparser *p, size_t pos) {
    if (p->len - pos < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = cs_jhex(p->s[pos + (size_t)i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* One UTF-8 sequence starting at pos (first byte >= 0x80): its length, or 0 when invalid
 * (overlong, a surrogate, above U+10FFFF, truncated, or a stray continuation byte). */
static size_t cs_jutf8(const cs_jparser *p, size_t pos, uint32_t *cp) {
    const unsigned char *s = p->s + pos;
    size_t avail = p->len - pos;
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0; /* 0x80-0xBF stray continuation, 0xC0/0xC1 overlong, 0xF5-0xFF */
    }
    if (avail < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

static int cs_jarena_put(cs_jparser *p, const unsigned char *b, size_t n) {
    if (p->arena_cap - p->arena_len < n) {
        size_t cap = p->arena_cap ? p->arena_cap : 256;
        while (cap - p->arena_len < n) {
            if (cap > SIZE_MAX / 2) return 0;
            cap *= 2;
        }
        unsigned char *a = realloc(p->arena, cap);
        if (!a) return 0;
        p->arena = a;
        p->arena_cap = cap;
    }
    memcpy(p->arena + p->arena_len, b, n);
    p->arena_len += n;
    return 1;
}

static int cs_jput_cp(cs_jparser *p, uint32_t cp) {
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp, n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6)), b[1] = (unsigned char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12)), b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18)), b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (unsigned char)(0x80 | (cp & 0x3F)), n = 4;
    }
    return cs_jarena_put(p, b, n);
}

/* A string at pos (the opening quote). When decode is set, its decoded bytes are appended to
 * the arena (for key comparison). */
static int cs_jstring(cs_jparser *p, int decode) {
    p->pos++; /* '"' */
    for (;;) {
        if (p->pos >= p->len) return cs_jfail(p, p->pos, "unterminated string");
        size_t at = p->pos;
        unsigned char c = p->s[at];
        if (c == '"') {
            p->pos++;
            return 1;
        }
        if (c == 0) return cs_jfail(p, at, "NUL byte in string");
        if (c < 0x20) return cs_jfail(p, at, "raw control character in string (must be escaped)");
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = cs_jutf8(p, at, &cp);
            if (!n) return cs_jfail(p, at, "invalid UTF-8 in string");
            if (decode && !cs_jarena_put(p, p->s + at, n)) goto nomem;
            p->pos += n;
            continue;
        }
        if (c != '\\') {
            if (decode && !cs_jarena_put(p, &c, 1)) goto nomem;
            p->pos++;
            continue;
        }
        if (at + 1 >= p->len) return cs_jfail(p, at, "unterminated string");
        unsigned char e = p->s[at + 1];
        uint32_t cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            long u = cs_jhex4(p, at + 2);
            if (u < 0) return cs_jfail(p, at, "bad \\u escape (needs four hex digits)");
            if (u == 0) return cs_jfail(p, at, "\\u0000 escape (NUL) in string");
            if (u >= 0xDC00 && u <= 0xDFFF) return cs_jfail(p, at, "lone low surrogate escape");
            if (u >= 0xD800 && u <= 0xDBFF) {
                long lo = (at + 7 < p->len && p->s[at + 6] == '\\' && p->s[at + 7] == 'u') ? cs_jhex4(p, at + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return cs_jfail(p, at, "high surrogate escape not followed by a low surrogate escape");
                cp = 0x10000u + (((uint32_t)u - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
                p->pos += 6; /* the second escape */
            } else {
                cp = (uint32_t)u;
            }
            p->pos += 4;
            break;
        }
        default: return cs_jfail(p, at, "bad escape in string");
        }
        p->pos += 2;
        if (decode && !cs_jput_cp(p, cp)) goto nomem;
    }
nomem:
    p->nomem = 1;
    return cs_jfail(p, p->pos, "out of memory");
}

static int cs_jdigits(cs_jparser *p) {
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    return p->pos > start;
}

static int cs_jnumber(cs_jparser *p) {
    if (p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len) return cs_jfail(p, p->pos, "truncated number");
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            return cs_jfail(p, p->pos, "leading zero in number");
    } else if (!cs_jdigits(p)) {
        return cs_jfail(p, p->pos, "bad number (expected a digit)");
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (!cs_jdigits(p)) return cs_jfail(p, p->pos, "bad number (expected a digit after '.')");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (!cs_jdigits(p)) return cs_jfail(p, p->pos, "bad number (expected an exponent digit)");
    }
    return 1;
}

static int cs_jliteral(cs_jparser *p, const char *word) {
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++)
        if (p->pos + i >= p->len || p->s[p->pos + i] != (unsigned char)word[i])
            return cs_jfail(p, p->pos + i, p->pos + i >= p->len ? "truncated literal" : "invalid literal");
    p->pos += n;
    return 1;
}

static uint64_t cs_jhash(const unsigned char *b, size_t n) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Open-addressing table over the keys [first, nkeys) of the object being read; slots hold key
 * index + 1. Returns 1 when the newest key is new, 0 when it repeats one, -1 out of memory. */
typedef struct {
    size_t *slots;
    size_t cap, count;
} cs_jtable;

static int cs_jtable_add(cs_jparser *p, cs_jtable *t, size_t k) {
    if (2 * (t->count + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        size_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i]) continue;
            size_t j = (size_t)p->keys[t->slots[i] - 1].hash & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    const cs_jkey *key = &p->keys[k];
    size_t j = (size_t)key->hash & (t->cap - 1);
    while (t->slots[j]) {
        const cs_jkey *o = &p->keys[t->slots[j] - 1];
        if (o->hash == key->hash && o->len == key->len && memcmp(p->arena + o->off, p->arena + key->off, o->len) == 0)
            return 0;
        j = (j + 1) & (t->cap - 1);
    }
    t->slots[j] = k + 1;
    t->count++;
    return 1;
}

static int cs_jvalue(cs_jparser *p, int depth);

static int cs_jobject(cs_jparser *p, int depth) {
    size_t arena_mark = p->arena_len, keys_mark = p->nkeys;
    cs_jtable t = {NULL, 0, 0};
    int ok = 0;
    p->pos++; /* '{' */
    cs_jskip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return 1;
    }
    for (;;) {
        cs_jskip_ws(p);
        if (p->pos >= p->len) {
            cs_jfail(p, p->pos, "truncated object (expected a key)");
            goto done;
        }
        if (p->s[p->pos] != '"') {
            cs_jfail(p, p->pos, "expected a string key in object");
            goto done;
        }
        size_t key_at = p->pos, off = p->arena_len;
        if (!cs_jstring(p, 1)) goto done;
        if (p->nkeys == p->keys_cap) {
            size_t cap = p->keys_cap ? 2 * p->keys_cap : 64;
            cs_jkey *k = realloc(p->keys, cap * sizeof *k);
            if (!k) goto nomem;
            p->keys = k;
            p->keys_cap = cap;
        }
        p->keys[p->nkeys] = (cs_jkey){off, p->arena_len - off, cs_jhash(p->arena + off, p->arena_len - off)};
        int added = cs_jtable_add(p, &t, p->nkeys);
        if (added < 0) goto nomem;
        if (added == 0) {
            cs_jfail(p, key_at, "duplicate key in object");
            goto done;
        }
        p->nkeys++;
        cs_jskip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            cs_jfail(p, p->pos, p->pos >= p->len ? "truncated object (expected ':')" : "expected ':' after key");
            goto done;
        }
        p->pos++;
        if (!cs_jvalue(p, depth)) goto done;
        cs_jskip_ws(p);
        if (p->pos >= p->len) {
            cs_jfail(p, p->pos, "truncated object (expected ',' or '}')");
            goto done;
        }
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == '}') {
            p->pos++;
            ok = 1;
            goto done;
        }
        cs_jfail(p, p->pos, "expected ',' or '}' in object");
        goto done;
    }
nomem:
    p->nomem = 1;
    cs_jfail(p, p->pos, "out of memory");
done:
    free(t.slots);
    p->arena_len = arena_mark;
    p->nkeys = keys_mark;
    return ok;
}

static int cs_jarray(cs_jparser *p, int depth) {
    p->pos++; /* '[' */
    cs_jskip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return 1;
    }
    for (;;) {
        if (!cs_jvalue(p, depth)) return 0;
        cs_jskip_ws(p);
        if (p->pos >= p->len) return cs_jfail(p, p->pos, "truncated array (expected ',' or ']')");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == ']') {
            p->pos++;
            return 1;
        }
        return cs_jfail(p, p->pos, "expected ',' or ']' in array");
    }
}

/* A value after optional whitespace; depth = the number of containers around it. */
static int cs_jvalue(cs_jparser *p, int depth) {
    cs_jskip_ws(p);
    if (p->pos >= p->len) return cs_jfail(p, p->pos, "truncated input (expected a value)");
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        if (depth >= p->max_depth) return cs_jfail(p, p->pos, "nesting too deep");
        return c == '{' ? cs_jobject(p, depth + 1) : cs_jarray(p, depth + 1);
    case '"': return cs_jstring(p, 0);
    case 't': return cs_jliteral(p, "true");
    case 'f': return cs_jliteral(p, "false");
    case 'n': return cs_jliteral(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return cs_jnumber(p);
        if (c == 0) return cs_jfail(p, p->pos, "NUL byte");
        return cs_jfail(p, p->pos, "unexpected character (expected a value)");
    }
}

/* Line and column (characters) of byte offset off. */
static void cs_jlocate(const unsigned char *s, size_t len, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    if (off > len) off = len;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            if (l < INT_MAX) l++;
            c = 1;
        } else if ((s[i] & 0xC0) != 0x80 && c < INT_MAX) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

int cs_json_strict_validate(const char *text, size_t len, size_t max_bytes, int max_depth,
                            cs_json_problem *out) {
    cs_jparser p;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)text;
    p.len = len;
    p.max_depth = max_depth;
    if (len > max_bytes) {
        cs_jfail(&p, 0, "text too large");
    } else if (len >= 3 && p.s[0] == 0xEF && p.s[1] == 0xBB && p.s[2] == 0xBF) {
        cs_jfail(&p, 0, "byte-order mark (JSON text must start with its value)");
    } else {
        cs_jskip_ws(&p);
        if (p.pos >= len) {
            cs_jfail(&p, p.pos, "empty input (expected a JSON value)");
        } else if (cs_jvalue(&p, 0)) {
            cs_jskip_ws(&p);
            if (p.pos < len)
                cs_jfail(&p, p.pos, p.s[p.pos] == 0 ? "NUL byte after the JSON value"
                                                     : "trailing data after the JSON value");
        }
    }
    free(p.arena);
    free(p.keys);
    if (!p.problem) return 1;
    out->problem = p.problem;
    out->offset = p.problem_at;
    cs_jlocate(p.s, len, p.problem_at, &out->line, &out->col);
    return p.nomem ? -1 : 0;
}

cs_status cs_json_strict_check(const char *name, const char *text, size_t len, size_t max_bytes,
                               int max_depth) {
    cs_json_problem pr;
    int r = cs_json_strict_validate(text, len, max_bytes, max_depth, &pr);
    if (r == 1) return CS_OK;
    if (r < 0) return CS_FAIL(CS_E_NOMEM, "%s: out of memory while checking the JSON", name);
    if (pr.offset == 0 && len > max_bytes)
        return CS_FAIL(CS_E_FORMAT, "%s:1:1: invalid JSON: %s (%zu bytes; at most %zu)", name, pr.problem, len, max_bytes);
    if (strcmp(pr.problem, "nesting too deep") == 0)
        return CS_FAIL(CS_E_FORMAT, "%s:%d:%d: invalid JSON: %s (at most %d levels)", name, pr.line, pr.col, pr.problem, max_depth);
    return CS_FAIL(CS_E_FORMAT, "%s:%d:%d: invalid JSON: %s", name, pr.line, pr.col, pr.problem);
}
