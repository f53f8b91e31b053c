/* Audit reports: report.json, values.csv, coalitions.csv and a self-contained report.html.
 * Every file is written to a temporary name in the output directory and renamed into place. */
#include "copyscope/audit.h"
#include "copyscope/protocol.h"
#include "copyscope/model.h"

#include "core/common.h"
#include "core/tmpfile.h"
#include "attribution/report_visual.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef COPYSCOPE_VERSION
#define COPYSCOPE_VERSION "unknown"
#endif

static const char *cs_utility_name(const cs_utility_spec *u) {
    static _Thread_local char buf[32];
    return cs_utility_format(u, buf, sizeof buf);
}

/* How the utility is computed from the metric, for the reports. */
static const char *cs_utility_formula(const cs_audit *a) {
    static _Thread_local char buf[128];
    const char *mn = cs_metric_name(a->metric);
    if (a->utility.kind == CS_UTILITY_ABS)
        snprintf(buf, sizeof buf, "U(S) = %s%s(S)", a->utility.is_distance ? "-" : "", mn);
    else if (a->utility.is_distance)
        snprintf(buf, sizeof buf, "U(S) = %s(baseline) - %s(S)", mn, mn);
    else
        snprintf(buf, sizeof buf, "U(S) = %s(S) - %s(baseline)", mn, mn);
    return buf;
}

static cJSON *cs_num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *cs_pair(double lo, double hi) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cs_num(lo));
    cJSON_AddItemToArray(a, cs_num(hi));
    return a;
}

/* {"percentile": [lo, hi], "basic": [...], ...}: every interval method (intervals.h) */
static cJSON *cs_ci_methods(const cs_audit_ci *ci) {
    cJSON *o = cJSON_CreateObject();
    for (int m = 0; m < CS_INTERVAL_N; m++)
        cJSON_AddItemToObject(o, cs_interval_name((cs_interval_method)m), cs_pair(ci->lo_m[m], ci->hi_m[m]));
    return o;
}

static cJSON *cs_coalition_names(const cs_audit_manifest *m, uint64_t mask) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < m->n_players; i++)
        if (mask >> i & 1) cJSON_AddItemToArray(arr, cJSON_CreateString(m->players[i]));
    return arr;
}

static void cs_mask_label(const cs_audit_manifest *m, uint64_t mask, char *buf, size_t cap) {
    size_t len = (size_t)snprintf(buf, cap, "%s", m->baseline);
    for (int i = 0; i < m->n_players && len < cap; i++)
        if (mask >> i & 1) len += (size_t)snprintf(buf + len, cap - len, "+%s", m->players[i]);
}

cs_status cs_audit_report_json(const cs_audit *a, char **json) {
    *json = NULL;
    const cs_audit_manifest *m = a->m;
    cJSON *root = cJSON_CreateObject();
    if (!root) return CS_FAIL(CS_E_NOMEM, "out of memory building report.json");
    cJSON_AddStringToObject(root, "copyscope_version", COPYSCOPE_VERSION);
    cJSON_AddStringToObject(root, "name", m->name ? m->name : "");
    cJSON_AddStringToObject(root, "manifest", m->path ? m->path : "");
    cJSON_AddStringToObject(root, "baseline", m->baseline);
    cJSON *pl = cJSON_AddArrayToObject(root, "players");
    for (int i = 0; i < m->n_players; i++) cJSON_AddItemToArray(pl, cJSON_CreateString(m->players[i]));
    cJSON_AddStringToObject(root, "utility", a->fid_inf ? "fid-inf-gain" : cs_utility_name(&a->utility));
    cJSON_AddStringToObject(root, "fid_estimator",
                            a->fid_inf ? "fid-inf: mean term corrected exactly, subset FIDs at 1/2 and all rows "
                                         "extrapolated to 1/n = 0 (Chong & Forsyth 2020)"
                                       : "plain (the FID of the samples; biased upward by O(1/n))");
    cJSON_AddStringToObject(root, "utility_formula", cs_utility_formula(a));
    cJSON_AddStringToObject(root, "metric", cs_metric_name(a->metric));
    cJSON_AddStringToObject(root, "sign_convention",
                            "positive value = the player moves the generated images toward the reference");
    cJSON_AddNumberToObject(root, "dims", a->dims);
    cJSON_AddStringToObject(root, "model", cs_model_kind_name((cs_model_kind)a->model));
    if (a->model == CS_MODEL_INCEPTION)
        cJSON_AddStringToObject(root, "protocol", cs_protocol_name((cs_protocol)a->protocol));
    cJSON_AddStringToObject(root, "weights_sha256", a->weights_sha256);
    cJSON_AddBoolToObject(root, "comparable_to_published", a->comparable_to_published);
    cJSON_AddStringToObject(root, "fid_method", a->fid_method ? a->fid_method : "");
    cJSON_AddStringToObject(root, "math_device", a->math_device[0] ? a->math_device : "cpu");
    cJSON_AddNumberToObject(root, "n_reference", (double)a->n_reference);
    const cs_audit_estimate *pe = &a->estimates[a->primary];
    cJSON_AddStringToObject(root, "primary_estimator", cs_estimator_name(pe->a.estimator));
    /* primary estimator at top level */
    cJSON *vals = cJSON_AddObjectToObject(root, "values");
    cJSON *norm = cJSON_AddObjectToObject(root, "normalized");
    cJSON *se = cJSON_AddObjectToObject(root, "std_error");
    cJSON *ci = cJSON_AddObjectToObject(root, "ci95");
    cJSON *bm = cJSON_AddObjectToObject(root, "bootstrap_mean");
    /* issue 22: what the values and intervals estimate, and every interval method's interval */
    cJSON_AddStringToObject(root, "estimand", a->metric == CS_METRIC_FID
                                                  ? "Shapley value of the population FID gain U(S) = FID(baseline) - FID(S) "
                                                    "(FID of the image distributions, not of these samples)"
                                                  : "Shapley value of the population utility");
    cJSON_AddStringToObject(root, "interval_method", a->bootstrap ? cs_interval_name(a->interval) : "none");
    {
        cs_interval_validity iv;
        cs_audit_interval_validity(a, &iv);
        cJSON *vo = cJSON_AddObjectToObject(root, "interval_validity");
        cJSON_AddBoolToObject(vo, "validated", iv.validated);
        cJSON_AddStringToObject(vo, "note", iv.note);
        cJSON_AddItemToObject(vo, "study_coverage_percent", cs_num(iv.coverage));
        cJSON_AddItemToObject(vo, "study_d", iv.study_d ? cJSON_CreateNumber(iv.study_d) : cJSON_CreateNull());
        cJSON_AddItemToObject(vo, "study_n", iv.study_n ? cJSON_CreateNumber(iv.study_n) : cJSON_CreateNull());
        cJSON_AddStringToObject(vo, "study", "bench/coverage_study.py, bench/results/coverage-cpu.txt");
    }
    cJSON *dbv = cJSON_AddObjectToObject(root, "debiased");
    cJSON *cim = cJSON_AddObjectToObject(root, "ci95_methods");
    for (int i = 0; i < m->n_players; i++) {
        cJSON_AddItemToObject(dbv, m->players[i], pe->ci ? cs_num(pe->ci[i].debiased) : cJSON_CreateNull());
        cJSON_AddItemToObject(cim, m->players[i], pe->ci ? cs_ci_methods(&pe->ci[i]) : cJSON_CreateNull());
    }
    for (int i = 0; i < m->n_players; i++) {
        cJSON_AddItemToObject(bm, m->players[i], pe->ci ? cs_num(pe->ci[i].mean) : cJSON_CreateNull());
        cJSON_AddItemToObject(vals, m->players[i], cs_num(pe->a.values[i]));
        cJSON_AddItemToObject(norm, m->players[i], cs_num(pe->a.normalized[i]));
        cJSON_AddItemToObject(se, m->players[i], pe->ci ? cs_num(pe->ci[i].se) : cJSON_CreateNull());
        cJSON_AddItemToObject(ci, m->players[i],
                              pe->ci ? cs_pair(pe->ci[i].lo, pe->ci[i].hi) : cJSON_CreateNull());
    }
    cJSON_AddItemToObject(root, "efficiency_gap", cs_num(pe->a.efficiency_gap));
    cJSON *ests = cJSON_AddArrayToObject(root, "estimators");
    for (size_t e = 0; e < a->n_estimates; e++) {
        const cs_audit_estimate *es = &a->estimates[e];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "estimator", cs_estimator_name(es->a.estimator));
        cJSON_AddBoolToObject(o, "primary", e == a->primary);
        cJSON_AddBoolToObject(o, "is_estimate", es->a.is_estimate);
        cJSON *v = cJSON_AddObjectToObject(o, "values");
        cJSON *nn = cJSON_AddObjectToObject(o, "normalized");
        cJSON *s = cJSON_AddObjectToObject(o, "std_error");
        cJSON *c = cJSON_AddObjectToObject(o, "ci95");
        cJSON *b = cJSON_AddObjectToObject(o, "bootstrap_mean");
        cJSON *cm = cJSON_AddObjectToObject(o, "ci95_methods");
        for (int i = 0; i < m->n_players; i++)
            cJSON_AddItemToObject(cm, m->players[i], es->ci ? cs_ci_methods(&es->ci[i]) : cJSON_CreateNull());
        for (int i = 0; i < m->n_players; i++) {
            cJSON_AddItemToObject(b, m->players[i], es->ci ? cs_num(es->ci[i].mean) : cJSON_CreateNull());
            cJSON_AddItemToObject(v, m->players[i], cs_num(es->a.values[i]));
            cJSON_AddItemToObject(nn, m->players[i], cs_num(es->a.normalized[i]));
            cJSON_AddItemToObject(s, m->players[i], es->ci ? cs_num(es->ci[i].se) : cJSON_CreateNull());
            cJSON_AddItemToObject(c, m->players[i],
                                  es->ci ? cs_pair(es->ci[i].lo, es->ci[i].hi) : cJSON_CreateNull());
        }
        cJSON_AddItemToObject(o, "efficiency_gap", cs_num(es->a.efficiency_gap));
        if (es->a.estimator == CS_EST_KERNELSHAP) cJSON_AddNumberToObject(o, "rank", es->a.rank);
        cJSON_AddStringToObject(o, "note", es->a.note);
        cJSON_AddItemToArray(ests, o);
    }
    cJSON *co = cJSON_AddArrayToObject(root, "coalitions");
    for (size_t k = 0; k < a->n_coalitions; k++) {
        const cs_audit_coalition *c = &a->coalitions[k];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "label", c->label);
        cJSON_AddItemToObject(o, "coalition", cs_coalition_names(m, c->mask));
        cJSON_AddNumberToObject(o, "n", (double)c->n);
        cJSON_AddItemToObject(o, "fid", cs_num(c->fid));
        if (a->fid_inf) cJSON_AddItemToObject(o, "fid_plain", cs_num(c->fid_plain));
        cJSON_AddItemToObject(o, "fid_ci95", a->bootstrap ? cs_pair(c->fid_ci.lo, c->fid_ci.hi) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "fid_std_error", a->bootstrap ? cs_num(c->fid_ci.se) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "fid_bootstrap_mean", a->bootstrap ? cs_num(c->fid_ci.mean) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "fid_debiased", a->bootstrap ? cs_num(c->fid_ci.debiased) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "fid_ci95_methods", a->bootstrap && a->metric == CS_METRIC_FID
                                                         ? cs_ci_methods(&c->fid_ci) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "score", cs_num(c->score));
        cJSON_AddItemToObject(o, "score_ci95", a->bootstrap ? cs_pair(c->score_ci.lo, c->score_ci.hi) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "score_std_error", a->bootstrap ? cs_num(c->score_ci.se) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "score_bootstrap_mean", a->bootstrap ? cs_num(c->score_ci.mean) : cJSON_CreateNull());
        if (cs_metric_is_pixel(a->metric)) {
            cJSON_AddItemToObject(o, "score_min", cs_num(c->score_min));
            cJSON_AddItemToObject(o, "score_max", cs_num(c->score_max));
        }
        if (a->metric == CS_METRIC_KID) cJSON_AddItemToObject(o, "kid_subset_std", cs_num(c->score_std));
        cJSON_AddItemToObject(o, "utility", cs_num(c->utility));
        cJSON_AddItemToObject(o, "utility_ci95",
                              a->bootstrap ? cs_pair(c->utility_ci.lo, c->utility_ci.hi) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "utility_ci95_methods",
                              a->bootstrap ? cs_ci_methods(&c->utility_ci) : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "method", c->method ? c->method : "");
        cJSON_AddStringToObject(o, "path", m->sets[k].files.n == 1 || m->sets[k].source != CS_AUDIT_IMAGES
                                               ? m->sets[k].files.paths[0] : "");
        cJSON_AddItemToArray(co, o);
    }
    cJSON_AddNumberToObject(root, "n_missing", (double)a->n_missing_total);
    cJSON *mi = cJSON_AddArrayToObject(root, "missing_coalitions");
    for (size_t k = 0; k < a->n_missing; k++) {
        char lab[4096];
        cs_mask_label(m, a->missing[k], lab, sizeof lab);
        cJSON_AddItemToArray(mi, cJSON_CreateString(lab));
    }
    cJSON *bs = cJSON_AddObjectToObject(root, "bootstrap");
    cJSON_AddNumberToObject(bs, "replicates", a->bootstrap);
    cJSON_AddNumberToObject(bs, "seed", (double)a->seed);
    cJSON_AddNumberToObject(bs, "failed_replicates", a->bootstrap_failed);
    cJSON_AddStringToObject(bs, "interval", cs_interval_description(a->interval));
    cJSON_AddStringToObject(bs, "interval_method", cs_interval_name(a->interval));
    /* issue 22: the inputs of bca, studentized and subsample (0: that method was not computed) */
    cJSON_AddNumberToObject(bs, "jackknife_groups", a->jackknife_groups);
    cJSON_AddNumberToObject(bs, "studentized_groups", a->studentized_groups);
    cJSON_AddNumberToObject(bs, "subsample_frac", a->subsample_frac);
    cJSON_AddNumberToObject(bs, "subsample_failed", a->subsample_failed);
    cJSON_AddStringToObject(bs, "resampling",
                            a->metric == CS_METRIC_FID
                                ? "per replicate: reference rows resampled once (shared by all sets), each set "
                                  "resampled; exact low-rank FID (cs_fid_boot)"
                            : a->metric == CS_METRIC_KID
                                ? "per replicate: reference rows resampled once (shared by all sets), each set "
                                  "resampled; KID of the resampled rows (cs_kid_gram, same subsets)"
                            : a->metric == CS_METRIC_CMMD
                                ? "per replicate: reference rows resampled once (shared by all sets), each set "
                                  "resampled; CMMD of the resampled rows (kernel matrix weighted by the counts)"
                            : cs_metric_is_nearest(a->metric)
                                ? "per replicate: reference rows resampled once (shared by all sets), each set "
                                  "resampled; each drawn image's largest similarity to the drawn reference images"
                                : "per replicate: reference images resampled once (shared by all sets), each set "
                                  "resampled; mean similarity of the resampled pairs");
    cJSON_AddStringToObject(bs, "rng", "splitmix64(seed, replicate)");
    cJSON *im = cJSON_AddObjectToObject(root, "images");
    cJSON_AddNumberToObject(im, "from_cache", (double)a->n_images_from_cache);
    cJSON_AddNumberToObject(im, "computed", (double)a->n_images_computed);
    cJSON *tm = cJSON_AddObjectToObject(root, "seconds");
    cJSON_AddNumberToObject(tm, "features", a->seconds_features);
    cJSON_AddNumberToObject(tm, "fid", a->seconds_fid);
    cJSON_AddNumberToObject(tm, "metric", a->seconds_metric);
    cJSON_AddNumberToObject(tm, "bootstrap", a->seconds_bootstrap);
    cs_report_json_visual(a, root); /* issue 18: nearest pairs, interactions */
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return CS_FAIL(CS_E_NOMEM, "out of memory printing report.json");
    /* return a malloc'd copy so that the caller frees with free() */
    size_t n = strlen(txt);
    char *outp = malloc(n + 2);
    if (!outp) {
        cJSON_free(txt);
        return CS_FAIL(CS_E_NOMEM, "out of memory printing report.json");
    }
    memcpy(outp, txt, n);
    outp[n] = '\n';
    outp[n + 1] = '\0';
    cJSON_free(txt);
    *json = outp;
    return CS_OK;
}

/* ---- files --------------------------------------------------------------------------------- */

static cs_status cs_write_atomic(const char *dir, const char *name, const char *data, size_t len) {
    char *path = NULL, *tmp = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0) return CS_FAIL(CS_E_NOMEM, "out of memory");
    if (asprintf(&tmp, "%s/.%s.tmp.%ld", dir, name, (long)getpid()) < 0) {
        free(path);
        return CS_FAIL(CS_E_NOMEM, "out of memory");
    }
    cs_status st = CS_OK;
    FILE *f = fopen(tmp, "wb");
    const int slot = f ? cs_tmp_track(tmp) : -1; /* unlinked if a signal ends the run before the rename */
    if (!f) {
        st = CS_FAIL(CS_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        size_t w = fwrite(data, 1, len, f);
        int e1 = ferror(f), e2 = fflush(f), e3 = fsync(fileno(f)), e4 = fclose(f);
        if (w != len || e1 || e2 || e3 || e4) st = CS_FAIL(CS_E_IO, "%s: write failed: %s", tmp, strerror(errno));
        else if (rename(tmp, path) != 0) st = CS_FAIL(CS_E_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        if (st != CS_OK) unlink(tmp);
    }
    cs_tmp_untrack(slot);
    free(path);
    free(tmp);
    return st;
}

static cs_status cs_mkdir_p(const char *dir) {
    char *p = strdup(dir);
    if (!p) return CS_FAIL(CS_E_NOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            cs_status st = CS_FAIL(CS_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return st;
        }
        *s = '/';
    }
    cs_status st = CS_OK;
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        st = CS_FAIL(CS_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
    free(p);
    return st;
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void cs_csv_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void cs_csv_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, ",%.17g", v);
    else fputs(",", f);
}

/* escaped, and invalid UTF-8 shown as U+FFFD (report_visual.c) */
static void cs_html_esc(FILE *f, const char *s) { cs_html_text(f, s); }

static void cs_write_values_csv(const cs_audit *a, FILE *f) {
    const cs_audit_manifest *m = a->m;
    fputs("player,estimator,primary,value,normalized,std_error,ci_low,ci_high\n", f);
    for (size_t e = 0; e < a->n_estimates; e++) {
        const cs_audit_estimate *es = &a->estimates[e];
        for (int i = 0; i < m->n_players; i++) {
            cs_csv_str(f, m->players[i]);
            fprintf(f, ",%s,%d", cs_estimator_name(es->a.estimator), e == a->primary);
            cs_csv_num(f, es->a.values[i]);
            cs_csv_num(f, es->a.normalized[i]);
            cs_csv_num(f, es->ci ? es->ci[i].se : NAN);
            cs_csv_num(f, es->ci ? es->ci[i].lo : NAN);
            cs_csv_num(f, es->ci ? es->ci[i].hi : NAN);
            fputc('\n', f);
        }
    }
}

static void cs_write_coalitions_csv(const cs_audit *a, FILE *f) {
    fputs("coalition,n,fid,fid_ci_low,fid_ci_high,fid_std_error,utility,utility_ci_low,"
          "utility_ci_high,method,metric,score,score_ci_low,score_ci_high,score_std_error\n", f);
    for (size_t k = 0; k < a->n_coalitions; k++) {
        const cs_audit_coalition *c = &a->coalitions[k];
        cs_csv_str(f, c->label);
        fprintf(f, ",%lld", (long long)c->n);
        cs_csv_num(f, c->fid);
        cs_csv_num(f, a->bootstrap ? c->fid_ci.lo : NAN);
        cs_csv_num(f, a->bootstrap ? c->fid_ci.hi : NAN);
        cs_csv_num(f, a->bootstrap ? c->fid_ci.se : NAN);
        cs_csv_num(f, c->utility);
        cs_csv_num(f, a->bootstrap ? c->utility_ci.lo : NAN);
        cs_csv_num(f, a->bootstrap ? c->utility_ci.hi : NAN);
        fprintf(f, ",%s,%s", c->method ? c->method : "", cs_metric_name(a->metric));
        cs_csv_num(f, c->score);
        cs_csv_num(f, a->bootstrap ? c->score_ci.lo : NAN);
        cs_csv_num(f, a->bootstrap ? c->score_ci.hi : NAN);
        cs_csv_num(f, a->bootstrap ? c->score_ci.se : NAN);
        fputc('\n', f);
    }
}

static void cs_write_html(const cs_audit *a, FILE *f) {
    const cs_audit_manifest *m = a->m;
    const cs_audit_estimate *pe = &a->estimates[a->primary];
    const int np = m->n_players;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>copyscope audit", f);
    if (m->name && m->name[0]) {
        fputs(": ", f);
        cs_html_esc(f, m->name);
    }
    fputs("</title>\n<style>\nbody{font-family:sans-serif;margin:2em;max-width:60em;color:#222}\n"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
          "text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}\n"
          ".warn{background:#b00020;color:#fff;padding:1em;font-size:1.2em;font-weight:bold;"
          "border-radius:4px}\n.ok{background:#e8f5e9;padding:.6em;border-radius:4px}\n"
          "code{background:#f3f3f3;padding:0 .2em}\n</style></head><body>\n", f);
    if (cs_metric_is_pixel(a->metric)) {
        fprintf(f, "<div class=\"ok\">Utility from the pixel metric %s (no Inception features; see "
                "docs/metrics.md).</div>\n", cs_metric_name(a->metric));
    } else if (!a->comparable_to_published) {
        fputs("<div class=\"warn\">WARNING: these features were not computed with the official "
              "pytorch-fid Inception weights (SHA-256 ", f);
        cs_html_esc(f, a->weights_sha256[0] ? a->weights_sha256 : "unknown");
        fputs("). The numbers are not comparable to published FIDs.</div>\n", f);
    } else {
        fputs("<div class=\"ok\">Official pytorch-fid Inception weights: FIDs are comparable to "
              "published ones.</div>\n", f);
    }
    fputs("<h1>copyscope audit", f);
    if (m->name && m->name[0]) {
        fputs(": ", f);
        cs_html_esc(f, m->name);
    }
    fputs("</h1>\n<p>Baseline <code>", f);
    cs_html_esc(f, m->baseline);
    fprintf(f, "</code>, %d players, %zu coalitions measured, %lld missing. Reference: %lld images. "
            "Features: %s%s%s, %d dims. FID method: %s. Utility: %s (%s). Primary estimator: <b>%s</b>. "
            "A positive value means the player moves the generated images toward the reference.</p>\n",
            np, a->n_coalitions, (long long)a->n_missing_total, (long long)a->n_reference,
            cs_model_kind_name((cs_model_kind)a->model), a->model == CS_MODEL_INCEPTION ? ", protocol " : "",
            a->model == CS_MODEL_INCEPTION ? cs_protocol_name((cs_protocol)a->protocol) : "", a->dims,
            a->fid_method ? a->fid_method : "", cs_utility_name(&a->utility), cs_utility_formula(a),
            cs_estimator_name(pe->a.estimator));
    if (a->bootstrap) {
        cs_interval_validity iv;
        cs_audit_interval_validity(a, &iv);
        fprintf(f, "<p>Estimand: the Shapley value of the <b>population</b> %s gain (the FID of the image "
                "distributions, not of these samples). Bootstrap: %d replicates (seed %llu, %d failed); "
                "whiskers: %s.</p>\n", a->fid_inf ? "FID-infinity" : "FID", a->bootstrap,
                (unsigned long long)a->seed, a->bootstrap_failed, cs_interval_description(a->interval));
        fprintf(f, "<p%s>", iv.validated ? "" : " class=\"warn\" style=\"background:#a15c00;font-size:1em\"");
        cs_html_esc(f, iv.note);
        fputs(".</p>\n", f);
    }
    /* bar chart */
    double lo = 0.0, hi = 0.0;
    for (int i = 0; i < np; i++) {
        double v[3] = {pe->a.values[i], pe->ci ? pe->ci[i].lo : pe->a.values[i],
                       pe->ci ? pe->ci[i].hi : pe->a.values[i]};
        for (int j = 0; j < 3; j++)
            if (isfinite(v[j])) {
                lo = v[j] < lo ? v[j] : lo;
                hi = v[j] > hi ? v[j] : hi;
            }
    }
    if (hi - lo <= 0) hi = lo + 1.0;
    const double W = 640, left = 170, right = 20, rowh = 28, top = 20;
    const double H = top * 2 + rowh * np;
    const double pw = W - left - right;
#define CS_X(v) (left + ((v) - lo) / (hi - lo) * pw)
    fprintf(f, "<h2>Attribution (%s)</h2>\n<svg width=\"%.0f\" "
            "height=\"%.0f\" role=\"img\" aria-label=\"bar chart of attribution values\">\n",
            cs_estimator_name(pe->a.estimator), W, H + 20);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", CS_X(0.0),
            top / 2, CS_X(0.0), H - top / 2);
    for (int i = 0; i < np; i++) {
        double v = pe->a.values[i], y = top + rowh * i;
        double x0 = CS_X(v < 0 ? v : 0.0), x1 = CS_X(v < 0 ? 0.0 : v);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"13\">", left - 8,
                y + rowh * 0.6);
        cs_html_esc(f, m->players[i]);
        fprintf(f, "</text>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                x0, y + 4, x1 - x0 > 0.5 ? x1 - x0 : 0.5, rowh - 8, v >= 0 ? "#1f77b4" : "#d62728");
        if (pe->ci && isfinite(pe->ci[i].lo) && isfinite(pe->ci[i].hi)) {
            double cy = y + rowh / 2, a0 = CS_X(pe->ci[i].lo), a1 = CS_X(pe->ci[i].hi);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>"
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>"
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                    a0, cy, a1, cy, a0, cy - 6, a0, cy + 6, a1, cy - 6, a1, cy + 6);
        }
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.4g</text>"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.4g</text>"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">0</text>\n</svg>\n",
            CS_X(lo), H + 10, lo, CS_X(hi), H + 10, hi, CS_X(0.0), H + 10);
#undef CS_X
    /* values table */
    fputs("<table><tr><th class=\"l\">player</th>", f);
    for (size_t e = 0; e < a->n_estimates; e++)
        fprintf(f, "<th>%s%s</th>", cs_estimator_name(a->estimates[e].a.estimator),
                e == a->primary ? " (primary)" : "");
    if (pe->ci) fputs("<th>95% CI (primary)</th><th>std. error</th>", f);
    fputs("<th>normalized</th></tr>\n", f);
    for (int i = 0; i < np; i++) {
        fputs("<tr><td class=\"l\">", f);
        cs_html_esc(f, m->players[i]);
        fputs("</td>", f);
        for (size_t e = 0; e < a->n_estimates; e++) fprintf(f, "<td>%.4f</td>", a->estimates[e].a.values[i]);
        if (pe->ci) fprintf(f, "<td>[%.4f, %.4f]</td><td>%.4f</td>", pe->ci[i].lo, pe->ci[i].hi, pe->ci[i].se);
        fprintf(f, "<td>%.4f</td></tr>\n", pe->a.normalized[i]);
    }
    fputs("</table>\n", f);
    if (pe->ci) {
        int outside = 0;
        for (int i = 0; i < np; i++)
            outside += !(pe->ci[i].lo <= pe->a.values[i] && pe->a.values[i] <= pe->ci[i].hi);
        if (outside && a->interval != CS_INTERVAL_PERCENTILE)
            fprintf(f, "<p>%d of %d intervals do not contain their point estimate: the %s interval corrects "
                    "FID's small-sample bias, which here exceeds the spread; the bias-corrected estimates are "
                    "<code>debiased</code> in report.json.</p>\n", outside, np, cs_interval_name(a->interval));
        else if (outside)
            fprintf(f, "<p class=\"warn\" style=\"background:#a15c00;font-size:1em\">%d of %d "
                    "intervals do not contain their point estimate: the bootstrap distribution is "
                    "shifted (FID's small-sample bias grows when resampled sets repeat images). "
                    "Compare bootstrap_mean with the value in report.json; more images per set "
                    "reduce the shift.</p>\n", outside, np);
    }
    if (isfinite(pe->a.efficiency_gap))
        fprintf(f, "<p>Efficiency gap (sum of values minus v(all) - v(baseline)): %.3g</p>\n",
                pe->a.efficiency_gap);
    cs_report_html_visual(a, f); /* issue 18: charts, lattice, interactions, nearest pairs, images */
    /* coalition table */
    const int pixel = cs_metric_is_pixel(a->metric), other = a->metric != CS_METRIC_FID;
    const char *mn = cs_metric_name(a->metric);
    fputs("<h2>Coalitions</h2>\n<table><tr><th class=\"l\">coalition</th><th>images</th>", f);
    if (!pixel) fputs("<th>FID</th>", f);
    if (other)
        fprintf(f, "<th>%s</th>", a->metric == CS_METRIC_KID    ? "KID (subset std.)"
                                  : a->metric == CS_METRIC_CMMD ? "CMMD"
                                  : cs_metric_is_nearest(a->metric) ? mn
                                                                : "mean similarity [min, max]");
    if (a->bootstrap) fprintf(f, "<th>%s 95%% CI</th><th>std. error</th>", other ? mn : "FID");
    fputs("<th>utility</th><th class=\"l\">method</th></tr>\n", f);
    for (size_t k = 0; k < a->n_coalitions; k++) {
        const cs_audit_coalition *c = &a->coalitions[k];
        fputs("<tr><td class=\"l\">", f);
        cs_html_esc(f, c->label);
        fprintf(f, "</td><td>%lld</td>", (long long)c->n);
        if (!pixel) fprintf(f, "<td>%.4f</td>", c->fid);
        if (a->metric == CS_METRIC_KID) fprintf(f, "<td>%.6g (%.2g)</td>", c->score, c->score_std);
        else if (a->metric == CS_METRIC_CMMD || cs_metric_is_nearest(a->metric)) fprintf(f, "<td>%.6g</td>", c->score);
        else if (pixel) fprintf(f, "<td>%.6f [%.4f, %.4f]</td>", c->score, c->score_min, c->score_max);
        if (a->bootstrap) fprintf(f, "<td>[%.6g, %.6g]</td><td>%.4g</td>", c->score_ci.lo, c->score_ci.hi, c->score_ci.se);
        fprintf(f, "<td>%.4f</td><td class=\"l\">%s</td></tr>\n", c->utility, c->method ? c->method : "");
    }
    fputs("</table>\n", f);
    if (a->n_missing_total > 0) {
        fprintf(f, "<h2>Missing coalitions (%llu)</h2>\n<p>These were not measured; the primary "
                "estimator is an estimate.</p>\n<ul>\n", (unsigned long long)a->n_missing_total);
        for (size_t k = 0; k < a->n_missing && k < 4096; k++) {
            char lab[4096];
            cs_mask_label(m, a->missing[k], lab, sizeof lab);
            fputs("<li>", f);
            cs_html_esc(f, lab);
            fputs("</li>\n", f);
        }
        fputs("</ul>\n", f);
    } else {
        fputs("<p>All coalitions were measured.</p>\n", f);
    }
    fprintf(f, "<p style=\"color:#666;font-size:.85em\">copyscope %s &middot; weights SHA-256 ",
            COPYSCOPE_VERSION);
    cs_html_esc(f, a->weights_sha256[0] ? a->weights_sha256 : "unknown");
    fputs("</p>\n</body></html>\n", f);
}

/* interactions.csv: player_i,player_j,interaction,ci_low,ci_high,std_error (the header only when
 * the indices are not defined). */
static void cs_write_interactions_csv(const cs_audit *a, FILE *f) {
    const cs_audit_manifest *m = a->m;
    fputs("player_i,player_j,interaction,ci_low,ci_high,std_error\n", f);
    if (!a->interactions) return;
    for (int i = 0; i < m->n_players; i++)
        for (int j = i; j < m->n_players; j++) {
            const size_t c = (size_t)i * m->n_players + j;
            cs_csv_str(f, m->players[i]);
            fputc(',', f);
            cs_csv_str(f, m->players[j]);
            cs_csv_num(f, a->interactions[c]);
            cs_csv_num(f, a->interaction_ci ? a->interaction_ci[c].lo : NAN);
            cs_csv_num(f, a->interaction_ci ? a->interaction_ci[c].hi : NAN);
            cs_csv_num(f, a->interaction_ci ? a->interaction_ci[c].se : NAN);
            fputc('\n', f);
        }
}

cs_status cs_audit_write_reports(const cs_audit *a, const char *dir) {
    CS_TRY(cs_mkdir_p(dir));
    char *json = NULL;
    CS_TRY(cs_audit_report_json(a, &json));
    cs_status st = cs_write_atomic(dir, "report.json", json, strlen(json));
    free(json);
    CS_TRY(st);
    for (int which = 0; which < 4; which++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) return CS_FAIL(CS_E_NOMEM, "out of memory building a report");
        if (which == 0) cs_write_values_csv(a, f);
        else if (which == 1) cs_write_coalitions_csv(a, f);
        else if (which == 2) cs_write_interactions_csv(a, f);
        else cs_write_html(a, f);
        fclose(f);
        static const char *const names[4] = {"values.csv", "coalitions.csv", "interactions.csv", "report.html"};
        st = cs_write_atomic(dir, names[which], buf, len);
        free(buf);
        CS_TRY(st);
    }
    return CS_OK;
}
