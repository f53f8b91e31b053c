/* The strict JSON validator (host/io/json_strict.c): what it accepts, and for each defect the
 * line:column it names. Texts carry their length explicitly so that embedded NULs are tested. */
#include "check.h"
#include "io/json_strict.h"

#include <stdlib.h>
#include <string.h>

#define T(s) (s), (sizeof(s) - 1)

static void accept(const char *text, size_t len) {
    cs_json_problem p = {0, 0, 0, NULL};
    int r = cs_json_strict_validate(text, len, 64u << 20, CS_JSON_DEFAULT_MAX_DEPTH, &p);
    CHECK(r == 1, "refused %.60s: %d:%d: %s", text, p.line, p.col, p.problem ? p.problem : "");
}

static void refuse(const char *text, size_t len, int line, int col, const char *needle) {
    cs_json_problem p = {0, 0, 0, NULL};
    int r = cs_json_strict_validate(text, len, 64u << 20, CS_JSON_DEFAULT_MAX_DEPTH, &p);
    CHECK(r == 0, "accepted %.60s", text);
    if (r != 0) return;
    CHECK(p.line == line && p.col == col, "%.60s: at %d:%d, expected %d:%d (%s)", text, p.line, p.col, line,
          col, p.problem);
    CHECK(strstr(p.problem, needle) != NULL, "%.60s: '%s' lacks '%s'", text, p.problem, needle);
}

int main(void) {
    /* accepted */
    accept(T("{\n  \"name\": \"audit\",\n  \"reference\": \"ref.npz\",\n  \"players\": [\"A\", \"B\"],\n"
             "  \"sets\": [{\"coalition\": [], \"path\": \"s0\"}, {\"coalition\": [\"A\"], \"path\": \"s1\"}],\n"
             "  \"options\": {\"seed\": 7, \"x\": -0.5e+3, \"y\": true, \"z\": null, \"w\": false}\n}\n"));
    accept(T("[[[[]]], [[1, [2, [3]]]], {}]"));
    accept(T("\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u20AC\""));
    accept(T("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\""));
    accept(T("\"\\ud83d\\ude00 \\uDBFF\\uDFFF\""));
    accept(T(" 0 "));
    accept(T("-0.0e-0"));
    accept(T("{\"a\": {\"a\": 1}, \"b\": {\"a\": 2}}")); /* same key in different objects */
    accept(T("{\"\\u00e9\": 1, \"e\\u0301\": 2}"));      /* different code points */

    /* refused, with position */
    refuse(T("{\"a\": 1} x"), 1, 10, "trailing data");
    refuse(T("{\"a\": 1}\n{\"b\": 2}"), 2, 1, "trailing data");
    refuse(T("{\"a\": 1,\n \"a\": 2}"), 2, 2, "duplicate key");
    refuse(T("{\"a\": 1, \"\\u0061\": 2}"), 1, 10, "duplicate key"); /* equal after decoding */
    refuse(T("{\"x\": [{\"k\": 1, \"k\": 1}]}"), 1, 17, "duplicate key");
    refuse(T("{\"name\": \"a\\u0000b\"}"), 1, 12, "\\u0000");
    refuse(T("{\"name\": \"a\0b\"}"), 1, 12, "NUL");
    refuse(T("{\"a\": 1}\0"), 1, 9, "NUL");
    refuse(T("{\"name\": \"\xff\"}"), 1, 11, "UTF-8");
    refuse(T("{\"name\": \"\xc3\xa9\xc3\"}"), 1, 12, "UTF-8");  /* truncated sequence */
    refuse(T("{\"name\": \"\xc0\xaf\"}"), 1, 11, "UTF-8");      /* overlong '/' */
    refuse(T("{\"name\": \"\xe0\x80\xaf\"}"), 1, 11, "UTF-8");  /* overlong 3 bytes */
    refuse(T("{\"name\": \"\xf0\x80\x80\xaf\"}"), 1, 11, "UTF-8");
    refuse(T("{\"name\": \"\xed\xa0\x80\"}"), 1, 11, "UTF-8");  /* surrogate in UTF-8 */
    refuse(T("{\"name\": \"\xf4\x90\x80\x80\"}"), 1, 11, "UTF-8"); /* above U+10FFFF */
    refuse(T("{\"name\": \"\x80\"}"), 1, 11, "UTF-8");          /* stray continuation */
    refuse(T("[\"\xc3\xa9\", \xc3\xa9]"), 1, 7, "unexpected character");
    refuse(T("\"\\ud83d\""), 1, 2, "high surrogate");
    refuse(T("\"\\ud83d\\u0041\""), 1, 2, "high surrogate");
    refuse(T("\"x\\ude00\""), 1, 3, "lone low surrogate");
    refuse(T("\"\\x41\""), 1, 2, "bad escape");
    refuse(T("\"\\u12g4\""), 1, 2, "\\u escape");
    refuse(T("\"\\u12\""), 1, 2, "\\u escape");
    refuse(T("\"tab\there\""), 1, 5, "control character");
    refuse(T(""), 1, 1, "empty");
    refuse(T("  \n "), 2, 2, "empty");
    refuse(T("{\"a\": [1, 2"), 1, 12, "truncated");
    refuse(T("{\"a\": \"xy"), 1, 10, "unterminated string");
    refuse(T("{\"a\""), 1, 5, "truncated");
    refuse(T("{\"a\": tru"), 1, 10, "truncated literal");
    refuse(T("[1,]"), 1, 4, "unexpected character");
    refuse(T("{\"a\": 1,}"), 1, 9, "expected a string key");
    refuse(T("{'a': 1}"), 1, 2, "expected a string key");
    refuse(T("[01]"), 1, 3, "leading zero");
    refuse(T("[1.]"), 1, 4, "bad number");
    refuse(T("[1e]"), 1, 4, "exponent");
    refuse(T("[-]"), 1, 3, "bad number");
    refuse(T("[NaN]"), 1, 2, "unexpected character");
    refuse(T("\xef\xbb\xbf{}"), 1, 1, "byte-order mark");
    refuse(T("[\"\xc3\xa9\xc3\xa9\", x]"), 1, 8, "unexpected"); /* columns count characters */

    /* nesting: exactly the limit passes, one more is refused where it opens */
    char deep[2 * 70 + 1];
    for (int n = CS_JSON_DEFAULT_MAX_DEPTH; n <= CS_JSON_DEFAULT_MAX_DEPTH + 1; n++) {
        for (int i = 0; i < n; i++) deep[i] = '[', deep[n + i] = ']';
        if (n == CS_JSON_DEFAULT_MAX_DEPTH) accept(deep, (size_t)(2 * n));
        else refuse(deep, (size_t)(2 * n), 1, n, "nesting too deep");
    }
    /* a hostile depth (1 MB of '[') is refused without recursing that far */
    size_t big = 1u << 20;
    char *b = malloc(big);
    CHECK(b != NULL, "malloc");
    if (b) {
        memset(b, '[', big);
        refuse(b, big - 1, 1, CS_JSON_DEFAULT_MAX_DEPTH + 1, "nesting too deep");
        free(b);
    }
    /* the size limit */
    cs_json_problem p;
    CHECK(cs_json_strict_validate("[1, 2, 3]", 9, 8, 8, &p) == 0 && strstr(p.problem, "too large"), "size limit");
    CHECK(cs_json_strict_validate("[1, 2, 3]", 9, 9, 8, &p) == 1, "size limit is inclusive");

    /* many distinct keys (the duplicate check is a hash table, not a quadratic scan) */
    size_t nk = 200000, cap = nk * 16 + 16, len = 0;
    char *o = malloc(cap);
    CHECK(o != NULL, "malloc");
    if (o) {
        o[len++] = '{';
        for (size_t i = 0; i < nk; i++) len += (size_t)snprintf(o + len, cap - len, "%s\"k%zu\":%zu", i ? "," : "", i, i);
        o[len++] = '}';
        accept(o, len);
        len--;
        len += (size_t)snprintf(o + len, cap - len, ",\"k7\":1}");
        refuse(o, len, 1, (int)(len - 6), "duplicate key");
        free(o);
    }

    /* the status form names the file, line and column */
    CHECK(cs_json_strict_check("m.json", "{\"a\":1}\n]", 9, 100, 8) == CS_E_FORMAT, "status");
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    else printf("json_strict: all checks passed\n");
    return failures != 0;
}
