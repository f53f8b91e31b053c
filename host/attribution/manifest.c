/* Audit manifests: the JSON format (docs/audit.md) and the directory form.
 *
 * Everything is validated here, before any expensive work: players, coalitions, the baseline
 * set, and every image set is expanded to its files (counts known) so that an empty set or a set
 * of one image fails at once with a message naming the manifest. */
#include "copyscope/audit.h"
#include "copyscope/protocol.h"
#include "copyscope/model.h"
#include "copyscope/statsfile.h"

#include "core/common.h"
#include "io/json_strict.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static char *cs_strdup_or_null(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = cs_malloc(n, "string");
    if (p) memcpy(p, s, n);
    return p;
}

static void cs_set_spec_free(cs_audit_set_spec *s) {
    free(s->label);
    cs_pathlist_free(&s->files);
    memset(s, 0, sizeof *s);
}

void cs_audit_manifest_free(cs_audit_manifest *m) {
    if (!m) return;
    free(m->path);
    free(m->name);
    free(m->baseline);
    for (int i = 0; i < m->n_players; i++) free(m->players[i]);
    free(m->players);
    cs_set_spec_free(&m->reference);
    for (size_t k = 0; k < m->n_sets; k++) cs_set_spec_free(&m->sets[k]);
    free(m->sets);
    free(m->estimator);
    free(m->model);
    free(m->utility);
    free(m);
}

/* base_dir + "/" + p unless p is absolute or base_dir is empty. */
static char *cs_path_resolve(const char *base_dir, const char *p) {
    if (p[0] == '/' || !base_dir || !base_dir[0]) return cs_strdup_or_null(p);
    char *out = NULL;
    if (asprintf(&out, "%s/%s", base_dir, p) < 0) {
        CS_FAIL(CS_E_NOMEM, "out of memory joining a path");
        return NULL;
    }
    return out;
}

/* What one existing path holds: directory, features .h5, stats (.npz / stats .h5) or an image. */
static cs_status cs_audit_path_kind(const char *mname, const char *what, const char *p,
                                    cs_file_kind *kind) {
    struct stat sb;
    if (stat(p, &sb) != 0)
        return CS_FAIL(CS_E_NOTFOUND, "%s: %s: %s: no such file or directory", mname, what, p);
    if (S_ISDIR(sb.st_mode)) {
        *kind = CS_FILE_DIRECTORY;
        return CS_OK;
    }
    unsigned char sig[8] = {0};
    if (cs_check_regular_file(p) != CS_OK) /* a FIFO or device would block or never end */
        return CS_FAIL(CS_E_USAGE, "%s: %s: %s", mname, what, cs_last_error());
    FILE *f = fopen(p, "rb");
    if (!f) return CS_FAIL(CS_E_IO, "%s: %s: cannot open %s: %s", mname, what, p, strerror(errno));
    size_t got = fread(sig, 1, sizeof sig, f);
    fclose(f);
    if ((got == 8 && memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0) ||
        (got >= 4 && memcmp(sig, "PK", 2) == 0)) {
        cs_status st = cs_file_kind_detect(p, kind);
        if (st != CS_OK)
            return CS_FAIL(st, "%s: %s: %s", mname, what, cs_last_error());
        return CS_OK;
    }
    *kind = CS_FILE_UNKNOWN; /* an image file (decoded later) */
    return CS_OK;
}

/* How the manifest's directories are listed: the rule of its protocol (the command line's
 * --protocol when given, else options.protocol; cs_protocol_listing). */
static cs_image_listing cs_manifest_listing(const cs_audit_manifest *m) {
    return cs_protocol_listing((cs_protocol)m->protocol);
}

/* Fill spec->files/source/n from a list of resolved paths. allow_stats: the reference. */
static cs_status cs_audit_spec_expand(const char *mname, const char *what, char **paths, size_t np,
                                      int allow_stats, cs_image_listing rule, cs_audit_set_spec *spec) {
    if (np == 0) return CS_FAIL(CS_E_FORMAT, "%s: %s: empty image set (no paths)", mname, what);
    for (size_t i = 0; i < np; i++) {
        cs_file_kind kind;
        CS_TRY(cs_audit_path_kind(mname, what, paths[i], &kind));
        if (kind == CS_FILE_H5_FEATURES || kind == CS_FILE_H5_STATS || kind == CS_FILE_NPZ) {
            if (np != 1)
                return CS_FAIL(CS_E_FORMAT, "%s: %s: a features or statistics file (%s) must be "
                               "the set's only path", mname, what, paths[i]);
            if (kind != CS_FILE_H5_FEATURES && !allow_stats)
                return CS_FAIL(CS_E_FORMAT, "%s: %s: %s holds statistics, not features: a "
                               "generated set needs images or a features .h5", mname, what, paths[i]);
            spec->source = kind == CS_FILE_H5_FEATURES ? CS_AUDIT_FEATURES : CS_AUDIT_STATS;
            CS_TRY(cs_pathlist_push(&spec->files, paths[i]));
            if (kind == CS_FILE_H5_FEATURES) {
                int d = 0;
                cs_extractor_id id;
                cs_status st = cs_features_file_info(paths[i], &spec->n, &d, &id);
                if (st != CS_OK) return CS_FAIL(st, "%s: %s: %s", mname, what, cs_last_error());
            } else {
                spec->n = 0; /* unknown / not needed */
            }
            return CS_OK;
        }
    }
    spec->source = CS_AUDIT_IMAGES;
    cs_status st = cs_pathlist_expand_listing((const char *const *)paths, np, rule, &spec->files);
    if (st != CS_OK) {
        if (strstr(cs_last_error(), "no image files"))
            return CS_FAIL(CS_E_FORMAT, "%s: %s: empty image set: %s", mname, what, cs_last_error());
        return CS_FAIL(st, "%s: %s: %s", mname, what, cs_last_error());
    }
    spec->n = (int64_t)spec->files.n;
    return CS_OK;
}

/* Check n >= 2 for a set (features files included). */
static cs_status cs_audit_spec_check_n(const char *mname, const char *what, const cs_audit_set_spec *s) {
    if (s->source == CS_AUDIT_STATS) return CS_OK;
    if (s->n == 0) return CS_FAIL(CS_E_FORMAT, "%s: %s: empty image set", mname, what);
    if (s->n == 1)
        return CS_FAIL(CS_E_FORMAT, "%s: %s: a set of one image (%s); the FID needs at least 2",
                       mname, what, s->files.paths[0]);
    return CS_OK;
}

/* A "path" JSON value (string or array of strings) -> resolved paths. */
static cs_status cs_json_paths(const char *mname, const char *what, const cJSON *v,
                               const char *base_dir, char ***paths, size_t *np) {
    *paths = NULL;
    *np = 0;
    size_t cnt = 0;
    if (cJSON_IsString(v)) cnt = 1;
    else if (cJSON_IsArray(v)) cnt = (size_t)cJSON_GetArraySize(v);
    else return CS_FAIL(CS_E_FORMAT, "%s: %s: \"path\" must be a string or a list of strings", mname, what);
    char **p = cs_calloc(cnt ? cnt : 1, sizeof *p, "paths");
    if (!p) return CS_E_NOMEM;
    size_t k = 0;
    const cJSON *it = cJSON_IsString(v) ? v : v->child;
    for (; k < cnt && it; k++, it = it->next) {
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            for (size_t j = 0; j < k; j++) free(p[j]);
            free(p);
            return CS_FAIL(CS_E_FORMAT, "%s: %s: every path must be a non-empty string", mname, what);
        }
        p[k] = cs_path_resolve(base_dir, it->valuestring);
        if (!p[k]) {
            for (size_t j = 0; j < k; j++) free(p[j]);
            free(p);
            return CS_E_NOMEM;
        }
    }
    *paths = p;
    *np = k;
    return CS_OK;
}

static void cs_paths_free(char **p, size_t n) {
    for (size_t i = 0; i < n; i++) free(p[i]);
    free(p);
}

static cs_status cs_check_player_name(const char *mname, const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > CS_PLAYER_NAME_MAX)
        return CS_FAIL(CS_E_FORMAT, "%s: player names must have 1..%d bytes", mname, CS_PLAYER_NAME_MAX);
    for (const char *c = s; *c; c++)
        if (*c == '+' || *c == ',' || (unsigned char)*c < 0x20)
            return CS_FAIL(CS_E_FORMAT, "%s: player name \"%s\" contains '+', ',' or a control "
                           "character", mname, s);
    return CS_OK;
}

/* Coalition label: baseline + players in player order. */
static char *cs_audit_label(const cs_audit_manifest *m, uint64_t mask) {
    size_t len = strlen(m->baseline) + 1;
    for (int i = 0; i < m->n_players; i++)
        if (mask >> i & 1) len += strlen(m->players[i]) + 1;
    char *s = cs_malloc(len, "coalition label");
    if (!s) return NULL;
    strcpy(s, m->baseline);
    for (int i = 0; i < m->n_players; i++)
        if (mask >> i & 1) {
            strcat(s, "+");
            strcat(s, m->players[i]);
        }
    return s;
}

/* Common checks after the sets are known: duplicates, baseline present. */
static cs_status cs_audit_manifest_check_sets(cs_audit_manifest *m) {
    const char *mname = m->path;
    if (m->n_sets == 0) return CS_FAIL(CS_E_FORMAT, "%s: no image sets", mname);
    int have_base = 0;
    for (size_t k = 0; k < m->n_sets; k++) {
        if (m->sets[k].mask == 0) have_base = 1;
        for (size_t j = 0; j < k; j++)
            if (m->sets[j].mask == m->sets[k].mask)
                return CS_FAIL(CS_E_FORMAT, "%s: duplicate coalition %s (sets %zu and %zu)", mname,
                               m->sets[k].label, j + 1, k + 1);
    }
    if (!have_base)
        return CS_FAIL(CS_E_FORMAT, "%s: missing baseline set: no set has the empty coalition "
                       "(\"%s\" alone, coalition [])", mname, m->baseline);
    return CS_OK;
}

static cs_status cs_json_error_position(const char *name, const char *text, size_t len) {
    const char *at = cJSON_GetErrorPtr();
    size_t off = (at && at >= text && at <= text + len) ? (size_t)(at - text) : len;
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return CS_FAIL(CS_E_FORMAT, "%s:%d:%d: invalid JSON (byte %zu)", name, line, col, off);
}

/* Only the known top-level keys. */
static cs_status cs_manifest_check_keys(const char *name, const cJSON *root) {
    static const char *known[] = {"name", "reference", "baseline", "players", "sets", "options",
                                  "description", "version", NULL};
    for (const cJSON *it = root->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; known[i]; i++) ok |= it->string && strcmp(it->string, known[i]) == 0;
        if (!ok)
            return CS_FAIL(CS_E_FORMAT, "%s: unknown key \"%s\" (known: name, reference, baseline, "
                           "players, sets, options)", name, it->string ? it->string : "");
    }
    return CS_OK;
}

/* "name" and "baseline" (default "baseline"). */
static cs_status cs_manifest_parse_names(const char *name, const cJSON *root, cs_audit_manifest *m) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "name");
    m->name = cs_strdup_or_null(cJSON_IsString(v) ? v->valuestring : "");
    v = cJSON_GetObjectItemCaseSensitive(root, "baseline");
    if (v && !cJSON_IsString(v)) return CS_FAIL(CS_E_FORMAT, "%s: \"baseline\" must be a string", name);
    m->baseline = cs_strdup_or_null(v && v->valuestring[0] ? v->valuestring : "baseline");
    if (!m->name || !m->baseline) return CS_E_NOMEM;
    return CS_OK;
}

/* "players": distinct valid names, none the baseline's. */
static cs_status cs_manifest_parse_players(const char *name, const cJSON *root, cs_audit_manifest *m) {
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(root, "players");
    if (!cJSON_IsArray(pl) || cJSON_GetArraySize(pl) < 1)
        return CS_FAIL(CS_E_FORMAT, "%s: \"players\" must be a non-empty list of names", name);
    int np = cJSON_GetArraySize(pl);
    if (np > CS_GAME_MAX_PLAYERS)
        return CS_FAIL(CS_E_FORMAT, "%s: %d players; at most %d", name, np, CS_GAME_MAX_PLAYERS);
    m->players = cs_calloc((size_t)np, sizeof *m->players, "players");
    if (!m->players) return CS_E_NOMEM;
    for (const cJSON *it = pl->child; it; it = it->next) {
        if (!cJSON_IsString(it)) return CS_FAIL(CS_E_FORMAT, "%s: \"players\" must be a list of strings", name);
        CS_TRY(cs_check_player_name(name, it->valuestring));
        if (strcmp(it->valuestring, m->baseline) == 0)
            return CS_FAIL(CS_E_FORMAT, "%s: player \"%s\" has the baseline's name", name, it->valuestring);
        for (int j = 0; j < m->n_players; j++)
            if (strcmp(m->players[j], it->valuestring) == 0)
                return CS_FAIL(CS_E_FORMAT, "%s: player \"%s\" is listed twice", name, it->valuestring);
        m->players[m->n_players] = cs_strdup_or_null(it->valuestring);
        if (!m->players[m->n_players]) return CS_E_NOMEM;
        m->n_players++;
    }
    return CS_OK;
}

/* One entry of "options". */
static cs_status cs_manifest_parse_option(const char *name, const cJSON *it, cs_audit_manifest *m) {
    const char *k = it->string ? it->string : "";
    cs_model_kind kind;
    if (strcmp(k, "dims") == 0 && cJSON_IsNumber(it) &&
        (it->valuedouble == 64 || it->valuedouble == 192 || it->valuedouble == 768 || it->valuedouble == 2048 ||
         it->valuedouble == 384 || it->valuedouble == 1024 || it->valuedouble == 1536)) {
        m->dims = (int)it->valuedouble; /* 384/1024/1536: a ViT's; checked against the model at extraction */
    } else if (strcmp(k, "model") == 0 && cJSON_IsString(it) && cs_model_kind_parse(it->valuestring, &kind)) {
        free(m->model);
        m->model = cs_strdup_or_null(it->valuestring);
        if (!m->model) return CS_E_NOMEM;
    } else if (strcmp(k, "bootstrap") == 0 && cJSON_IsNumber(it) && it->valuedouble >= 0 &&
               it->valuedouble <= CS_AUDIT_MAX_BOOTSTRAP && it->valuedouble == (double)(int)it->valuedouble) {
        m->bootstrap = (int)it->valuedouble;
    } else if (strcmp(k, "seed") == 0 && cJSON_IsNumber(it) && it->valuedouble >= 0 &&
               it->valuedouble < 9007199254740992.0 && it->valuedouble == (double)(uint64_t)it->valuedouble) {
        m->seed = (uint64_t)it->valuedouble;
        m->has_seed = 1;
    } else if (strcmp(k, "estimator") == 0 && cJSON_IsString(it)) {
        cs_estimator e;
        if (!cs_estimator_parse(it->valuestring, &e))
            return CS_FAIL(CS_E_FORMAT, "%s: options.estimator: unknown estimator \"%s\"", name, it->valuestring);
        m->estimator = cs_strdup_or_null(it->valuestring);
    } else if (strcmp(k, "protocol") == 0 && cJSON_IsString(it)) {
        cs_protocol p;
        if (cs_protocol_parse(it->valuestring, &p) != CS_OK)
            return CS_FAIL(CS_E_FORMAT, "%s: options.protocol: %s", name, cs_last_error());
        m->protocol = (int)p;
        m->has_protocol = 1;
    } else if (strcmp(k, "utility") == 0 && cJSON_IsString(it) &&
               (strcmp(it->valuestring, "fid-gain") == 0 || strcmp(it->valuestring, "neg-fid") == 0)) {
        m->utility = cs_strdup_or_null(it->valuestring);
    } else {
        return CS_FAIL(CS_E_FORMAT, "%s: options.%s: unknown option or bad value (options: "
                       "dims 64|192|768|2048 (a ViT: its own), model inception|dinov2-vits14|dinov2-vitb14|"
                       "dinov2-vitl14|dinov2-vitg14|clip-vitl14-336, estimator, bootstrap >= 0, seed >= 0, utility "
                       "fid-gain|neg-fid, protocol pytorch-fid|clean-fid|torch-fidelity)", name, k);
    }
    return CS_OK;
}

/* "options" (optional). */
static cs_status cs_manifest_parse_options(const char *name, const cJSON *root, cs_audit_manifest *m) {
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "options");
    if (!op) return CS_OK;
    if (!cJSON_IsObject(op)) return CS_FAIL(CS_E_FORMAT, "%s: \"options\" must be an object", name);
    for (const cJSON *it = op->child; it; it = it->next) CS_TRY(cs_manifest_parse_option(name, it, m));
    return CS_OK;
}

/* The paths of v (resolved against base_dir) expanded into sp, which must then hold enough
 * images. */
static cs_status cs_manifest_expand_set(const char *name, const char *what, const cJSON *v, const char *base_dir,
                                        int is_reference, const cs_audit_manifest *m, cs_audit_set_spec *sp) {
    char **paths = NULL;
    size_t n = 0;
    CS_TRY(cs_json_paths(name, what, v, base_dir, &paths, &n));
    cs_status st = cs_audit_spec_expand(name, what, paths, n, is_reference, cs_manifest_listing(m), sp);
    cs_paths_free(paths, n);
    if (st == CS_E_NOTFOUND && is_reference) return CS_FAIL(CS_E_NOTFOUND, "%s (missing reference)", cs_last_error());
    if (st != CS_OK) return st;
    return cs_audit_spec_check_n(name, what, sp);
}

/* "reference": required. */
static cs_status cs_manifest_parse_reference(const char *name, const char *base_dir, const cJSON *root,
                                             cs_audit_manifest *m) {
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "reference");
    if (!ref)
        return CS_FAIL(CS_E_FORMAT, "%s: missing reference: no \"reference\" key (a directory, a "
                       "list of image files, or a features/statistics file)", name);
    CS_TRY(cs_manifest_expand_set(name, "reference", ref, base_dir, 1, m, &m->reference));
    m->reference.label = cs_strdup_or_null("reference");
    return CS_OK;
}

/* The player list quoted in messages: "A, B, C" (truncated with "..." to fit cap > 8 bytes). */
static const char *cs_manifest_player_list(const cs_audit_manifest *m, char *list, size_t cap) {
    size_t ll = 0;
    list[0] = '\0';
    for (int i = 0; i < m->n_players && ll < cap - 8; i++)
        ll += (size_t)snprintf(list + ll, cap - ll, "%s%s", i ? ", " : "", m->players[i]);
    if (ll >= cap - 8) snprintf(list + cap - 8, 8, "...");
    return list;
}

/* The "coalition" of set k (0-based) into sp->mask: known players, each once; the baseline's
 * name inside stands for nothing. */
static cs_status cs_manifest_parse_coalition(const char *name, size_t k, const cJSON *s, const cs_audit_manifest *m,
                                             cs_audit_set_spec *sp) {
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(s, "coalition");
    if (!cJSON_IsArray(co))
        return CS_FAIL(CS_E_FORMAT, "%s: set %zu: \"coalition\" must be a list of player names "
                       "([] = the baseline)", name, k + 1);
    for (const cJSON *c = co->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return CS_FAIL(CS_E_FORMAT, "%s: set %zu: coalition entries must be strings", name, k + 1);
        if (strcmp(c->valuestring, m->baseline) == 0) continue; /* "Base" inside = nothing */
        int idx = -1;
        for (int i = 0; i < m->n_players; i++)
            if (strcmp(m->players[i], c->valuestring) == 0) idx = i;
        if (idx < 0) {
            char list[512];
            return CS_FAIL(CS_E_FORMAT, "%s: set %zu: unknown player \"%s\" (players: %s)", name, k + 1,
                           c->valuestring, cs_manifest_player_list(m, list, sizeof list));
        }
        if (sp->mask >> idx & 1)
            return CS_FAIL(CS_E_FORMAT, "%s: set %zu: player \"%s\" appears twice in the coalition", name, k + 1,
                           c->valuestring);
        sp->mask |= 1ull << idx;
    }
    return CS_OK;
}

/* Set k (0-based) of "sets": its coalition, label and images; a coalition of an earlier set is
 * refused before anything is expanded. */
static cs_status cs_manifest_parse_set(const char *name, const char *base_dir, size_t k, const cJSON *s,
                                       cs_audit_manifest *m) {
    cs_audit_set_spec *sp = &m->sets[k];
    if (!cJSON_IsObject(s)) return CS_FAIL(CS_E_FORMAT, "%s: set %zu: must be an object", name, k + 1);
    CS_TRY(cs_manifest_parse_coalition(name, k, s, m, sp));
    sp->label = cs_audit_label(m, sp->mask);
    if (!sp->label) return CS_E_NOMEM;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "path");
    if (!p) return CS_FAIL(CS_E_FORMAT, "%s: set %zu (%s): no \"path\"", name, k + 1, sp->label);
    for (size_t j = 0; j < k; j++) /* duplicates before expanding anything */
        if (m->sets[j].mask == sp->mask)
            return CS_FAIL(CS_E_FORMAT, "%s: duplicate coalition %s (sets %zu and %zu)", name, sp->label, j + 1,
                           k + 1);
    char what[512];
    snprintf(what, sizeof what, "set %zu (%s)", k + 1, sp->label);
    return cs_manifest_expand_set(name, what, p, base_dir, 0, m, sp);
}

/* "sets": a non-empty list, each parsed in turn. */
static cs_status cs_manifest_parse_sets(const char *name, const char *base_dir, const cJSON *root,
                                        cs_audit_manifest *m) {
    const cJSON *sets = cJSON_GetObjectItemCaseSensitive(root, "sets");
    if (!cJSON_IsArray(sets) || cJSON_GetArraySize(sets) < 1)
        return CS_FAIL(CS_E_FORMAT, "%s: \"sets\" must be a non-empty list of {\"coalition\": [...], "
                       "\"path\": ...}", name);
    size_t ns = (size_t)cJSON_GetArraySize(sets);
    if (ns > CS_AUDIT_MAX_SETS) return CS_FAIL(CS_E_FORMAT, "%s: %zu sets; at most %d", name, ns, CS_AUDIT_MAX_SETS);
    m->sets = cs_calloc(ns, sizeof *m->sets, "sets");
    if (!m->sets) return CS_E_NOMEM;
    size_t k = 0;
    for (const cJSON *s = sets->child; s; s = s->next, k++) {
        m->n_sets = k + 1; /* freed with the manifest, also when it fails half-parsed */
        CS_TRY(cs_manifest_parse_set(name, base_dir, k, s, m));
    }
    return CS_OK;
}

/* Every part of the manifest's JSON object root into m, in order. */
static cs_status cs_manifest_parse_root(const char *name, const char *base_dir, const cJSON *root, int protocol,
                                        cs_audit_manifest *m) {
    if (!cJSON_IsObject(root)) return CS_FAIL(CS_E_FORMAT, "%s: the manifest must be a JSON object", name);
    CS_TRY(cs_manifest_check_keys(name, root));
    CS_TRY(cs_manifest_parse_names(name, root, m));
    CS_TRY(cs_manifest_parse_players(name, root, m));
    CS_TRY(cs_manifest_parse_options(name, root, m));
    if (protocol >= 0) m->protocol = protocol; /* the command line's, for the listing */
    CS_TRY(cs_manifest_parse_reference(name, base_dir, root, m));
    CS_TRY(cs_manifest_parse_sets(name, base_dir, root, m));
    return cs_audit_manifest_check_sets(m);
}

cs_status cs_audit_manifest_parse(const char *name, const char *base_dir, const char *text,
                                  size_t len, cs_audit_manifest **out) {
    return cs_audit_manifest_parse_protocol(name, base_dir, text, len, -1, out);
}

cs_status cs_audit_manifest_parse_protocol(const char *name, const char *base_dir, const char *text, size_t len,
                                           int protocol, cs_audit_manifest **out) {
    *out = NULL;
    cs_status st = CS_OK;
    cJSON *root = NULL;
    cs_audit_manifest *m = cs_calloc(1, sizeof *m, "manifest");
    if (!m) return CS_E_NOMEM;
    m->path = cs_strdup_or_null(name);
    if (!m->path) {
        st = CS_E_NOMEM;
        goto fail;
    }
    /* cJSON alone accepts trailing data, keeps the first of duplicate keys, cuts names at \u0000
     * and passes invalid UTF-8 through: the whole text is validated first (io/json_strict.h). */
    CS_TRY_GOTO(st, cs_json_strict_check(name, text, len, CS_AUDIT_MAX_MANIFEST, CS_JSON_DEFAULT_MAX_DEPTH), fail);
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        st = cs_json_error_position(name, text, len);
        goto fail;
    }
    CS_TRY_GOTO(st, cs_manifest_parse_root(name, base_dir, root, protocol, m), fail);
    cJSON_Delete(root);
    *out = m;
    return CS_OK;
fail:
    cJSON_Delete(root);
    cs_audit_manifest_free(m);
    return st;
}

cs_status cs_audit_manifest_read(const char *path, cs_audit_manifest **out) {
    return cs_audit_manifest_read_protocol(path, -1, out);
}

cs_status cs_audit_manifest_read_protocol(const char *path, int protocol, cs_audit_manifest **out) {
    *out = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    cs_status st = cs_read_file(path, CS_AUDIT_MAX_MANIFEST, &data, &len);
    if (st != CS_OK) return st;
    char *dir = cs_strdup_or_null(path);
    if (!dir) {
        free(data);
        return CS_E_NOMEM;
    }
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else dir[0] = '\0';
    if (slash == dir) strcpy(dir, "/");
    st = cs_audit_manifest_parse_protocol(path, dir, (const char *)data, len, protocol, out);
    free(dir);
    free(data);
    return st;
}

static int cs_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The subdirectories of generated_root (hidden ones left out), sorted by name: *names (n),
 * freed by the caller also after a failure. */
static cs_status cs_dirs_list(const char *generated_root, char ***names, size_t *n) {
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    DIR *d = opendir(generated_root);
    if (!d)
        return errno == ENOENT ? CS_FAIL(CS_E_NOTFOUND, "%s: no such directory", generated_root)
                               : CS_FAIL(CS_E_IO, "%s: cannot open directory: %s", generated_root, strerror(errno));
    cs_status st = CS_OK;
    struct dirent *e;
    while (st == CS_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *full = NULL;
        if (asprintf(&full, "%s/%s", generated_root, e->d_name) < 0) {
            st = CS_E_NOMEM;
            break;
        }
        struct stat sb;
        int isdir = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(full);
        if (!isdir) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nw = realloc(*names, cap * sizeof **names);
            if (!nw) {
                st = CS_FAIL(CS_E_NOMEM, "out of memory listing %s", generated_root);
                break;
            }
            *names = nw;
        }
        (*names)[*n] = cs_strdup_or_null(e->d_name);
        if (!(*names)[*n]) {
            st = CS_E_NOMEM;
            break;
        }
        (*n)++;
        if (*n > CS_AUDIT_MAX_SETS)
            st = CS_FAIL(CS_E_FORMAT, "%s: more than %d subdirectories", generated_root, CS_AUDIT_MAX_SETS);
    }
    closedir(d);
    if (st == CS_OK && *n > 1) qsort(*names, *n, sizeof **names, cs_cmp_str);
    return st;
}

/* One player name of subdirectory `name` (pass 0: players are collected, a new one added to m;
 * pass 1: every player is known, *mask gets its bit, each at most once). */
static cs_status cs_dirs_player(const char *mname, const char *name, const char *tok, int pass,
                                cs_audit_manifest *m, uint64_t *mask) {
    int idx = -1;
    for (int i = 0; i < m->n_players; i++)
        if (strcmp(m->players[i], tok) == 0) idx = i;
    if (idx < 0 && pass == 0) {
        if (m->n_players == CS_GAME_MAX_PLAYERS)
            return CS_FAIL(CS_E_FORMAT, "%s: more than %d players", mname, CS_GAME_MAX_PLAYERS);
        CS_TRY(cs_check_player_name(mname, tok));
        m->players[m->n_players] = cs_strdup_or_null(tok);
        if (!m->players[m->n_players]) return CS_E_NOMEM;
        idx = m->n_players++;
    }
    if (pass == 1) {
        if (*mask >> idx & 1)
            return CS_FAIL(CS_E_FORMAT, "%s: subdirectory \"%s\" names player \"%s\" twice", mname, name, tok);
        *mask |= 1ull << idx;
    }
    return CS_OK;
}

/* Subdirectory `name` = baseline+PlayerA+PlayerB...: its players (see cs_dirs_player). */
static cs_status cs_dirs_parse_name(const char *mname, const char *baseline, const char *name, int pass,
                                    cs_audit_manifest *m, uint64_t *mask) {
    char *copy = cs_strdup_or_null(name);
    if (!copy) return CS_E_NOMEM;
    cs_status st = CS_OK;
    char *save = NULL;
    int first = 1;
    *mask = 0;
    for (char *tok = strtok_r(copy, "+", &save); tok && st == CS_OK; tok = strtok_r(NULL, "+", &save)) {
        if (first && strcmp(tok, baseline) != 0)
            st = CS_FAIL(CS_E_FORMAT, "%s: subdirectory \"%s\" does not start with the baseline name \"%s\"", mname,
                         name, baseline);
        else if (first)
            first = 0;
        else
            st = cs_dirs_player(mname, name, tok, pass, m, mask);
    }
    free(copy);
    return st;
}

/* Set k: coalition mask, from subdirectory names[k] of generated_root, refused when an earlier
 * set has it; its images expanded. */
static cs_status cs_dirs_add_set(const char *generated_root, char **names, size_t k, uint64_t mask,
                                 cs_audit_manifest *m) {
    const char *mname = generated_root;
    cs_audit_set_spec *sp = &m->sets[k];
    m->n_sets = k + 1;
    sp->mask = mask;
    sp->label = cs_audit_label(m, mask);
    if (!sp->label) return CS_E_NOMEM;
    for (size_t j = 0; j < k; j++)
        if (m->sets[j].mask == mask)
            return CS_FAIL(CS_E_FORMAT, "%s: duplicate coalition %s (subdirectories \"%s\" and \"%s\")", mname,
                           sp->label, names[j], names[k]);
    char *full = NULL;
    if (asprintf(&full, "%s/%s", generated_root, names[k]) < 0) return CS_E_NOMEM;
    char what[512];
    snprintf(what, sizeof what, "set %s", names[k]);
    cs_status st = cs_audit_spec_expand(mname, what, &full, 1, 0, cs_manifest_listing(m), sp);
    free(full);
    if (st != CS_OK) return st;
    return cs_audit_spec_check_n(mname, what, sp);
}

/* The reference path, expanded and checked. */
static cs_status cs_dirs_reference(const char *mname, const char *reference, cs_audit_manifest *m) {
    char *rp = cs_strdup_or_null(reference);
    if (!rp) return CS_E_NOMEM;
    cs_status st = cs_audit_spec_expand(mname, "reference", &rp, 1, 1, cs_manifest_listing(m), &m->reference);
    free(rp);
    if (st != CS_OK) return st;
    CS_TRY(cs_audit_spec_check_n(mname, "reference", &m->reference));
    m->reference.label = cs_strdup_or_null("reference");
    return CS_OK;
}

/* The manifest of the sorted subdirectories names (nn of them): players in order of first
 * appearance (first pass), then each set's coalition and images (second pass), then the
 * reference. */
static cs_status cs_dirs_build(const char *reference, const char *generated_root, const char *baseline,
                               char **names, size_t nn, cs_audit_manifest *m) {
    const char *mname = generated_root;
    if (nn == 0)
        return CS_FAIL(CS_E_FORMAT, "%s: no subdirectories (expected one per coalition, named like "
                       "%s+PlayerA+PlayerB)", mname, baseline);
    m->players = cs_calloc(CS_GAME_MAX_PLAYERS, sizeof *m->players, "players");
    m->sets = cs_calloc(nn, sizeof *m->sets, "sets");
    if (!m->players || !m->sets) return CS_E_NOMEM;
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < nn; k++) {
            uint64_t mask;
            CS_TRY(cs_dirs_parse_name(mname, baseline, names[k], pass, m, &mask));
            if (pass == 1) CS_TRY(cs_dirs_add_set(generated_root, names, k, mask, m));
        }
    if (m->n_players == 0)
        return CS_FAIL(CS_E_FORMAT, "%s: no players: every subdirectory is the baseline \"%s\"", mname, baseline);
    CS_TRY(cs_dirs_reference(mname, reference, m));
    return cs_audit_manifest_check_sets(m);
}

cs_status cs_audit_manifest_from_dirs(const char *reference, const char *generated_root,
                                      const char *baseline, cs_audit_manifest **out) {
    return cs_audit_manifest_from_dirs_protocol(reference, generated_root, baseline, -1, out);
}

cs_status cs_audit_manifest_from_dirs_protocol(const char *reference, const char *generated_root,
                                               const char *baseline, int protocol, cs_audit_manifest **out) {
    *out = NULL;
    cs_status st = CS_OK;
    char **names = NULL;
    size_t nn = 0;
    cs_audit_manifest *m = cs_calloc(1, sizeof *m, "manifest");
    if (!m) return CS_E_NOMEM;
    m->path = cs_strdup_or_null(generated_root);
    m->protocol = protocol >= 0 ? protocol : CS_PROTOCOL_PYTORCH_FID; /* the listing rule */
    m->name = cs_strdup_or_null("");
    m->baseline = cs_strdup_or_null(baseline);
    if (!m->path || !m->name || !m->baseline) {
        st = CS_E_NOMEM;
        goto done;
    }
    if (!baseline[0] || strchr(baseline, '+')) {
        st = CS_FAIL(CS_E_USAGE, "--baseline must be a non-empty name without '+'");
        goto done;
    }
    st = cs_dirs_list(generated_root, &names, &nn);
    if (st == CS_OK) st = cs_dirs_build(reference, generated_root, baseline, names, nn, m);
done:
    for (size_t k = 0; k < nn; k++) free(names[k]);
    free(names);
    if (st != CS_OK) {
        cs_audit_manifest_free(m);
        return st;
    }
    *out = m;
    return CS_OK;
}
