/* libFuzzer target for the strict JSON validator (host/io/json_strict.c) and the audit manifest
 * parser behind it (host/attribution/manifest.c), built with -DCOPYSCOPE_FUZZ=ON and clang:
 *   fuzz_json -max_total_time=60 CORPUS_DIR   (seeds: tests/fuzz_seeds.py)
 * Checks, besides ASan/UBSan: the validator is deterministic, a refusal names a position inside
 * the text, and whatever it accepts cJSON parses as exactly one value. */
#include "copyscope/audit.h"
#include "io/json_strict.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    cs_json_problem p, q;
    int r = cs_json_strict_validate(text, size, 1u << 20, 32, &p);
    int r2 = cs_json_strict_validate(text, size, 1u << 20, 32, &q);
    if (r != r2) abort();
    if (r == 0) {
        if (p.offset > size || p.line < 1 || p.col < 1 || !p.problem) abort();
        if (q.offset != p.offset || q.line != p.line || q.col != p.col) abort();
    } else if (r == 1) {
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
        if (!root) abort(); /* valid JSON that cJSON (nesting limit 1000 > 32) cannot read */
        cJSON_Delete(root);
    }
    /* the manifest reader as the CLI runs it (paths resolve under a directory that is not there) */
    cs_audit_manifest *m = NULL;
    cs_status st = cs_audit_manifest_parse("fuzz.json", "/nonexistent-cs-fuzz", text, size, &m);
    if (st == CS_OK) cs_audit_manifest_free(m);
    else if (m != NULL) abort();
    return 0;
}
