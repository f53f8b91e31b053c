/* Coalition tables: a CSV listing, for each measured coalition of pipeline components, its FID
 * against the reference (column `fid`) or a utility (column `utility`).
 *
 *   coalition,fid
 *   SDv1-5,310.18          <- the baseline (with --baseline SDv1-5), or an empty field, or (baseline)
 *   SDv1-5+Depth,289.24    <- {Depth}: the baseline's name inside a coalition is dropped
 *   Depth+Davinci,239.17
 *
 * The file is untrusted: sizes are bounded, every problem is reported as "FILE:LINE: problem". */
#include "copyscope/shapley.h"
#include "copyscope/metrics.h"

#include "core/common.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#define CS_TABLE_MAX_BYTES ((size_t)256 << 20) /* 2^20 coalitions of long names fit easily */
#define CS_TABLE_MAX_FIELDS 256
#define CS_TABLE_MAX_ROWS ((size_t)1 << 24)

typedef struct {
    char *buf;                        /* unquoted fields, NUL-separated (capacity: the whole text) */
    size_t nf;
    size_t off[CS_TABLE_MAX_FIELDS];  /* (nf,) start of each field in buf */
} cs_record;

static int cs_is_eol(char c) { return c == '\n' || c == '\r'; }

/* advance past one line ending (\n, \r\n or \r), counting it */
static const char *cs_skip_eol(const char *p, const char *end, int *line) {
    if (p < end) {
        if (*p == '\r') {
            p++;
            if (p < end && *p == '\n') p++;
        } else if (*p == '\n') {
            p++;
        }
    }
    (*line)++;
    return p;
}

static char *cs_trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* One CSV record starting at *pp (which is at the start of a line). */
static cs_status cs_record_read(const char *name, const char **pp, const char *end, int *line, cs_record *r) {
    const char *p = *pp;
    size_t w = 0;
    int start_line = *line;
    r->nf = 0;
    for (;;) {
        if (r->nf == CS_TABLE_MAX_FIELDS)
            return CS_FAIL(CS_E_FORMAT, "%s:%d: more than %d fields", name, start_line, CS_TABLE_MAX_FIELDS);
        r->off[r->nf++] = w;
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t')) q++;
        if (q < end && *q == '"') {
            p = q + 1;
            for (;;) {
                if (p >= end)
                    return CS_FAIL(CS_E_FORMAT, "%s:%d: unterminated quoted field", name, start_line);
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        r->buf[w++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n' || (*p == '\r' && !(p + 1 < end && p[1] == '\n'))) (*line)++;
                r->buf[w++] = *p++;
            }
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p < end && *p != ',' && !cs_is_eol(*p))
                return CS_FAIL(CS_E_FORMAT, "%s:%d: unexpected text after a closing quote", name, *line);
        } else {
            while (p < end && *p != ',' && !cs_is_eol(*p)) {
                if (*p == 0) return CS_FAIL(CS_E_FORMAT, "%s:%d: NUL byte in the file", name, *line);
                r->buf[w++] = *p++;
            }
        }
        r->buf[w++] = 0;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        break;
    }
    if (p < end) p = cs_skip_eol(p, end, line);
    else (*line)++;
    *pp = p;
    return CS_OK;
}

/* Strict decimal number: digits, sign, point, exponent; finite. */
static int cs_parse_number(const char *s, double *out) {
    if (!*s) return 0;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.' && *c != 'e' && *c != 'E')
            return 0;
    char *endp = NULL;
    double v = strtod(s, &endp);
    if (*endp || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

void cs_coalition_table_free(cs_coalition_table *t) {
    if (!t) return;
    if (t->players)
        for (int i = 0; i < t->n_players; i++) free(t->players[i]);
    free(t->players);
    free(t->masks);
    free(t->values);
    free(t->lines);
    free(t);
}

static int cs_player_find(const cs_coalition_table *t, const char *name) {
    for (int i = 0; i < t->n_players; i++)
        if (!strcmp(t->players[i], name)) return i;
    return -1;
}

/* Coalition text -> mask (players discovered on the way unless fixed). */
static cs_status cs_parse_coalition(const char *name, int line, char *text, const cs_table_options *o, int fixed,
                                    int max_players, cs_coalition_table *t, uint64_t *out) {
    uint64_t mask = 0;
    text = cs_trim(text);
    *out = 0;
    if (!*text || !strcmp(text, "(baseline)")) return CS_OK;
    char *tok = text;
    for (;;) {
        char *plus = strchr(tok, '+');
        if (plus) *plus = 0;
        char *nm = cs_trim(tok);
        if (!*nm)
            return CS_FAIL(CS_E_FORMAT, "%s:%d: empty player name in coalition (stray '+')", name, line);
        if (strlen(nm) > CS_PLAYER_NAME_MAX)
            return CS_FAIL(CS_E_FORMAT, "%s:%d: player name longer than %d bytes", name, line, CS_PLAYER_NAME_MAX);
        for (const char *c = nm; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == ',')
                return CS_FAIL(CS_E_FORMAT, "%s:%d: player name '%.64s' contains a control character or ','", name,
                               line, nm);
        if (!strcmp(nm, "(baseline)"))
            return CS_FAIL(CS_E_FORMAT, "%s:%d: '(baseline)' must stand alone (it is the empty coalition)", name,
                           line);
        if (!(o->baseline && !strcmp(nm, o->baseline))) {
            int i = cs_player_find(t, nm);
            if (i < 0) {
                if (fixed) {
                    char list[512];
                    size_t len = 0;
                    list[0] = 0;
                    for (int k = 0; k < t->n_players && len < sizeof list - 80; k++)
                        len += (size_t)snprintf(list + len, sizeof list - len, "%s%.64s", k ? ", " : "", t->players[k]);
                    return CS_FAIL(CS_E_FORMAT, "%s:%d: unknown player '%.64s' (players: %s)", name, line, nm, list);
                }
                if (t->n_players >= max_players)
                    return CS_FAIL(CS_E_FORMAT,
                                   "%s:%d: too many players: '%.64s' would be player %d, at most %d are supported%s",
                                   name, line, nm, t->n_players + 1, max_players,
                                   max_players <= CS_GAME_MAX_FULL ? " by this estimator (kernelshap, permutation and "
                                                                     "paper allow 63)"
                                                                   : "");
                char *copy = strdup(nm);
                if (!copy) return CS_FAIL(CS_E_NOMEM, "out of memory reading %s", name);
                t->players[t->n_players] = copy;
                i = t->n_players++;
            }
            if (mask >> i & 1)
                return CS_FAIL(CS_E_FORMAT, "%s:%d: player '%.64s' appears twice in one coalition", name, line, nm);
            mask |= (uint64_t)1 << i;
        }
        if (!plus) break;
        tok = plus + 1;
    }
    *out = mask;
    return CS_OK;
}

/* Skip blank lines and '#' comment lines; 1 when a record starts at *p, 0 at the end. */
static int cs_next_record(const char **p, const char *end, int *line) {
    while (*p < end) {
        const char *q = *p;
        while (q < end && (*q == ' ' || *q == '\t')) q++;
        if (q == end) return 0;
        if (!cs_is_eol(*q) && *q != '#') return 1;
        while (q < end && !cs_is_eol(*q)) q++;
        *p = q < end ? cs_skip_eol(q, end, line) : q;
    }
    return 0;
}

/* A value column's name: utility or a metric name (fid, kid, cosine, ...). */
static int cs_table_value_column(const char *h) {
    cs_metric m;
    if (!strcasecmp(h, "utility")) return 1;
    char low[16];
    size_t n = strlen(h);
    if (n >= sizeof low) return 0;
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)h[i]);
    return cs_metric_name_valid(low, &m);
}

cs_status cs_utility_parse(const char *name, cs_utility_spec *out) {
    memset(out, 0, sizeof *out);
    cs_metric m;
    char base[32];
    if (!name) name = "";
    if (!strcmp(name, "raw")) {
        out->kind = CS_UTILITY_RAW;
        return CS_OK;
    }
    size_t n = strlen(name);
    if (n < sizeof base) {
        out->kind = CS_UTILITY_GAIN;
        snprintf(base, sizeof base, "%s", name);
        if (!strncmp(name, "neg-", 4)) {
            out->kind = CS_UTILITY_ABS;
            snprintf(base, sizeof base, "%s", name + 4);
        } else if (n > 5 && !strcmp(name + n - 5, "-gain")) {
            base[n - 5] = 0;
        } else if (n > 4 && !strcmp(name + n - 4, "-raw")) {
            out->kind = CS_UTILITY_ABS;
            base[n - 4] = 0;
        }
        if (cs_metric_name_valid(base, &m)) {
            int dist = cs_metric_is_distance(m);
            /* neg- goes with distances, -raw with similarities */
            int ok = !(dist && n > 4 && !strcmp(name + n - 4, "-raw")) && !(!dist && !strncmp(name, "neg-", 4));
            if (ok) {
                memcpy(out->metric, cs_metric_name(m), strlen(cs_metric_name(m)) + 1); /* <= 9 chars */
                out->is_distance = dist;
                return CS_OK;
            }
        }
    }
    return CS_FAIL(CS_E_USAGE, "unknown utility '%.60s' (fid-gain, neg-fid, kid-gain, neg-kid, cmmd-gain, neg-cmmd, raw, or a similarity "
                   "cosine, hist, dhash, ssim, rgb-ssim, fusion, nn-sim, copy-rate, optionally with -gain or -raw)", name);
}

const char *cs_utility_format(const cs_utility_spec *u, char *buf, size_t cap) {
    if (u->kind == CS_UTILITY_RAW) snprintf(buf, cap, "raw");
    else if (u->kind == CS_UTILITY_ABS) snprintf(buf, cap, u->is_distance ? "neg-%s" : "%s-raw", u->metric);
    else snprintf(buf, cap, "%s-gain", u->metric);
    return buf;
}

/* The fixed player list of the options (o->players), checked, into t. */
static cs_status cs_table_fixed_players(const cs_table_options *o, int max_players, cs_coalition_table *t) {
    if (o->n_players > max_players)
        return CS_FAIL(CS_E_USAGE, "%d players given, at most %d are supported", o->n_players, max_players);
    for (int i = 0; i < o->n_players; i++) {
        const char *nm = o->players[i];
        if (!nm || !nm[0] || strchr(nm, '+') || strchr(nm, ',') || strlen(nm) > CS_PLAYER_NAME_MAX ||
            !strcmp(nm, "(baseline)") || (o->baseline && !strcmp(nm, o->baseline)))
            return CS_FAIL(CS_E_USAGE, "bad player name '%.64s' in the player list", nm ? nm : "");
        if (cs_player_find(t, nm) >= 0) return CS_FAIL(CS_E_USAGE, "player '%.64s' listed twice", nm);
        t->players[i] = strdup(nm);
        if (!t->players[i]) return CS_FAIL(CS_E_NOMEM, "out of memory");
        t->n_players = i + 1;
    }
    return CS_OK;
}

/* The columns of the header. */
typedef struct cs_table_columns {
    int header_line;
    long coal, val;    /* field indices */
    size_t min_fields; /* a row needs at least this many fields */
} cs_table_columns;

/* The header, the first record that is not blank or a comment: its columns into c, the value
 * column's name and kind into t. A `utility` column wins over metric columns (an audit's
 * coalitions.csv has both). */
static cs_status cs_table_header(const char *name, const char **p, const char *end, int *line, cs_record *rec,
                                 cs_coalition_table *t, cs_table_columns *c) {
    long col_util = -1;
    c->header_line = 0;
    c->coal = c->val = -1;
    if (cs_next_record(p, end, line)) {
        c->header_line = *line;
        CS_TRY(cs_record_read(name, p, end, line, rec));
    }
    if (!c->header_line)
        return CS_FAIL(CS_E_FORMAT, "%s: empty file (expected a header line 'coalition,fid' or 'coalition,utility')",
                       name);
    for (size_t k = 0; k < rec->nf; k++) {
        char *h = cs_trim(rec->buf + rec->off[k]);
        if (!strcasecmp(h, "coalition")) {
            if (c->coal >= 0)
                return CS_FAIL(CS_E_FORMAT, "%s:%d: bad header: two 'coalition' columns", name, c->header_line);
            c->coal = (long)k;
        } else if (!strcasecmp(h, "utility")) {
            if (col_util >= 0)
                return CS_FAIL(CS_E_FORMAT, "%s:%d: bad header: two 'utility' columns", name, c->header_line);
            col_util = (long)k;
        } else if (cs_table_value_column(h)) {
            if (c->val >= 0)
                return CS_FAIL(CS_E_FORMAT, "%s:%d: bad header: two metric columns ('%s' and '%.30s'); keep one of "
                               "fid, kid, cmmd, cosine, hist, dhash, ssim, rgb-ssim, fusion (or add a 'utility' column)",
                               name, c->header_line, t->column, h);
            c->val = (long)k;
            snprintf(t->column, sizeof t->column, "%s", h);
            for (char *ch = t->column; *ch; ch++) *ch = (char)tolower((unsigned char)*ch);
        }
    }
    if (col_util >= 0) {
        c->val = col_util;
        snprintf(t->column, sizeof t->column, "utility");
    }
    if (c->val >= 0) {
        cs_metric mt;
        t->is_metric = cs_metric_name_valid(t->column, &mt);
        t->is_fid = t->is_metric && mt == CS_METRIC_FID;
        t->is_distance = t->is_metric && cs_metric_is_distance(mt);
    }
    if (c->coal < 0 || c->val < 0)
        return CS_FAIL(CS_E_FORMAT, "%s:%d: bad header: expected columns 'coalition' and 'fid' (or 'utility'), got '%.100s'",
                       name, c->header_line, rec->nf ? cs_trim(rec->buf) : "");
    c->min_fields = (size_t)(c->coal > c->val ? c->coal : c->val) + 1;
    return CS_OK;
}

/* Duplicate detection: rows are few enough (<= 2^24) for an open-addressing table keyed by
 * mask + 1 (0 = empty), probed linearly, kept at load <= 1/2. */
typedef struct cs_mask_index {
    size_t cap;     /* a power of two, or 0 */
    uint64_t *keys; /* (cap,) mask + 1, 0 = empty */
    size_t *rows;   /* (cap,) */
} cs_mask_index;

static void cs_mask_index_free(cs_mask_index *ix) {
    free(ix->keys);
    free(ix->rows);
    memset(ix, 0, sizeof *ix);
}

/* The slot of key in keys (cap slots): where it is, or the empty one where it would go. */
static size_t cs_mask_slot(const uint64_t *keys, size_t cap, uint64_t key) {
    size_t h = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 7) & (cap - 1);
    while (keys[h] && keys[h] != key) h = (h + 1) & (cap - 1);
    return h;
}

/* Room for n entries at load <= 1/2. */
static cs_status cs_mask_index_reserve(cs_mask_index *ix, size_t n) {
    if (2 * n <= ix->cap) return CS_OK;
    size_t ncap = ix->cap ? 2 * ix->cap : 128;
    uint64_t *nk = cs_calloc(ncap, sizeof *nk, "duplicate index");
    size_t *nr = cs_malloc(ncap * sizeof *nr, "duplicate index");
    if (!nk || !nr) {
        free(nk);
        free(nr);
        return CS_E_NOMEM;
    }
    for (size_t k = 0; k < ix->cap; k++) {
        if (!ix->keys[k]) continue;
        size_t h = cs_mask_slot(nk, ncap, ix->keys[k]);
        nk[h] = ix->keys[k];
        nr[h] = ix->rows[k];
    }
    cs_mask_index_free(ix);
    ix->keys = nk;
    ix->rows = nr;
    ix->cap = ncap;
    return CS_OK;
}

/* 1 and *row when mask is in the index (which must not be empty). */
static int cs_mask_index_get(const cs_mask_index *ix, uint64_t mask, size_t *row) {
    size_t h = cs_mask_slot(ix->keys, ix->cap, mask + 1);
    if (!ix->keys[h]) return 0;
    *row = ix->rows[h];
    return 1;
}

/* Room in t's row arrays for one more row (cap: their capacity). */
static cs_status cs_table_grow_rows(const char *name, cs_coalition_table *t, size_t *cap) {
    if (t->n_rows < *cap) return CS_OK;
    size_t ncap = *cap ? 2 * *cap : 64;
    uint64_t *nm = realloc(t->masks, ncap * sizeof *nm);
    if (nm) t->masks = nm;
    double *nv = realloc(t->values, ncap * sizeof *nv);
    if (nv) t->values = nv;
    int *nl = realloc(t->lines, ncap * sizeof *nl);
    if (nl) t->lines = nl;
    if (!nm || !nv || !nl) return CS_FAIL(CS_E_NOMEM, "out of memory reading %s", name);
    *cap = ncap;
    return CS_OK;
}

/* One data row (already read into rec, from line row_line): its value and coalition appended to
 * t unless the coalition is already there. */
static cs_status cs_table_add_row(const char *name, int row_line, cs_record *rec, const cs_table_columns *c,
                                  const cs_table_options *o, int fixed, int max_players, cs_coalition_table *t,
                                  size_t *cap, cs_mask_index *ix) {
    if (rec->nf < c->min_fields)
        return CS_FAIL(CS_E_FORMAT, "%s:%d: expected at least %zu fields, got %zu", name, row_line, c->min_fields,
                       rec->nf);
    if (t->n_rows == CS_TABLE_MAX_ROWS)
        return CS_FAIL(CS_E_FORMAT, "%s:%d: more than %zu rows", name, row_line, CS_TABLE_MAX_ROWS);
    char *vtext = cs_trim(rec->buf + rec->off[c->val]);
    double value;
    if (!cs_parse_number(vtext, &value))
        return CS_FAIL(CS_E_FORMAT, "%s:%d: %s value '%.40s' is not a finite number", name, row_line, t->column,
                       vtext);
    char coal_text[64];
    snprintf(coal_text, sizeof coal_text, "%s", cs_trim(rec->buf + rec->off[c->coal]));
    uint64_t mask;
    CS_TRY(cs_parse_coalition(name, row_line, rec->buf + rec->off[c->coal], o, fixed, max_players, t, &mask));
    CS_TRY(cs_table_grow_rows(name, t, cap));
    CS_TRY(cs_mask_index_reserve(ix, t->n_rows + 1));
    size_t prev;
    if (cs_mask_index_get(ix, mask, &prev))
        return CS_FAIL(CS_E_FORMAT, "%s:%d: duplicate coalition '%s' (the same set as line %d)", name, row_line,
                       coal_text[0] ? coal_text : "(baseline)", t->lines[prev]);
    size_t h = cs_mask_slot(ix->keys, ix->cap, mask + 1);
    ix->keys[h] = mask + 1;
    ix->rows[h] = t->n_rows;
    t->masks[t->n_rows] = mask;
    t->values[t->n_rows] = value;
    t->lines[t->n_rows] = row_line;
    t->n_rows++;
    return CS_OK;
}

/* After the last row: some rows, a baseline row (t->baseline_row), some players. */
static cs_status cs_table_check_complete(const char *name, const cs_table_options *o, int header_line,
                                         const cs_mask_index *ix, cs_coalition_table *t) {
    if (!t->n_rows) return CS_FAIL(CS_E_FORMAT, "%s:%d: no coalition rows after the header", name, header_line);
    if (!cs_mask_index_get(ix, 0, &t->baseline_row))
        return CS_FAIL(CS_E_FORMAT,
                       "%s: missing baseline row (the empty coalition: an empty coalition field, '(baseline)'%s%s%s)",
                       name, o->baseline ? ", or '" : "; or pass --baseline NAME if the baseline row names the baseline",
                       o->baseline ? o->baseline : "", o->baseline ? "'" : "");
    if (t->n_players == 0) return CS_FAIL(CS_E_FORMAT, "%s: the table names no players (only the baseline row)", name);
    return CS_OK;
}

/* Header and rows of the text [p, end) into t. */
static cs_status cs_table_parse_records(const char *name, const char *p, const char *end, const cs_table_options *o,
                                        int fixed, int max_players, cs_record *rec, cs_coalition_table *t) {
    int line = 1;
    cs_table_columns c = {0};
    CS_TRY(cs_table_header(name, &p, end, &line, rec, t, &c));
    size_t cap = 0;
    cs_mask_index ix = {0};
    cs_status st = CS_OK;
    while (st == CS_OK && cs_next_record(&p, end, &line)) {
        int row_line = line;
        st = cs_record_read(name, &p, end, &line, rec);
        if (st == CS_OK) st = cs_table_add_row(name, row_line, rec, &c, o, fixed, max_players, t, &cap, &ix);
    }
    if (st == CS_OK) st = cs_table_check_complete(name, o, c.header_line, &ix, t);
    cs_mask_index_free(&ix);
    return st;
}

cs_status cs_coalition_table_parse(const char *name, const char *text, size_t len, const cs_table_options *opts,
                                   cs_coalition_table **out) {
    *out = NULL;
    cs_table_options o = {0};
    if (opts) o = *opts;
    int max_players = o.max_players > 0 && o.max_players < CS_GAME_MAX_PLAYERS ? o.max_players : CS_GAME_MAX_PLAYERS;
    if (o.baseline) {
        if (!o.baseline[0] || strchr(o.baseline, '+') || strchr(o.baseline, ','))
            return CS_FAIL(CS_E_USAGE, "baseline name '%.64s' must be non-empty without '+' or ','", o.baseline);
    }
    const char *p = text, *end = text + len;
    if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;

    cs_status st = CS_OK;
    cs_record rec = {0};
    cs_coalition_table *t = cs_calloc(1, sizeof *t, "coalition table");
    if (!t) return CS_E_NOMEM;
    rec.buf = cs_malloc(len + 1, "CSV record"); /* (len + 1,) bytes: no record is longer than the text */
    t->players = cs_calloc(CS_GAME_MAX_PLAYERS, sizeof(char *), "player names");
    if (!rec.buf || !t->players) {
        st = CS_E_NOMEM;
        goto fail;
    }
    const int fixed = o.players && o.n_players > 0;
    if (fixed) CS_TRY_GOTO(st, cs_table_fixed_players(&o, max_players, t), fail);
    CS_TRY_GOTO(st, cs_table_parse_records(name, p, end, &o, fixed, max_players, &rec, t), fail);
    free(rec.buf);
    *out = t;
    return CS_OK;
fail:
    free(rec.buf);
    cs_coalition_table_free(t);
    return st;
}

cs_status cs_coalition_table_read(const char *path, const cs_table_options *opts, cs_coalition_table **out) {
    unsigned char *data = NULL;
    size_t len = 0;
    *out = NULL;
    CS_TRY(cs_read_file(path, CS_TABLE_MAX_BYTES, &data, &len));
    cs_status st = cs_coalition_table_parse(path, (const char *)data, len, opts, out);
    free(data);
    return st;
}

cs_status cs_coalition_table_game(const cs_coalition_table *t, cs_utility_kind kind, cs_game **out) {
    *out = NULL;
    if (t->is_metric && kind == CS_UTILITY_RAW)
        return CS_FAIL(CS_E_USAGE, "the table has a '%s' column: choose the utility %s-gain or %s",
                       t->column, t->column, t->is_distance ? (t->is_fid ? "neg-fid" : !strcmp(t->column, "cmmd") ? "neg-cmmd" : "neg-kid")
                                     : "its -raw form");
    if (!t->is_metric && kind != CS_UTILITY_RAW)
        return CS_FAIL(CS_E_USAGE, "the table has a 'utility' column: --utility applies to metric tables only");
    cs_game *g = NULL;
    CS_TRY(cs_game_create(t->n_players, (const char *const *)t->players, &g));
    cs_utility_spec u = {"", t->is_distance, kind};
    double base = t->values[t->baseline_row];
    cs_status st = CS_OK;
    for (size_t r = 0; r < t->n_rows && !st; r++) st = cs_game_set(g, t->masks[r], cs_utility_value(&u, t->values[r], base));
    if (st) {
        cs_game_free(g);
        return st;
    }
    *out = g;
    return CS_OK;
}
