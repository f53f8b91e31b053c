/* The report's pictures and the data behind them (issue 18). See report_visual.h.
 *
 * report.html stays one self-contained file: thumbnails are data URIs, charts are inline SVG, no
 * script and no external resource. Thumbnails are capped per set (a->thumbnails) and by a byte
 * budget for the whole file (CS_REPORT_THUMB_BUDGET), so a 32-coalition audit stays under 8 MB;
 * each shown count is written next to its strip. Each image is embedded once (an SVG <image> with
 * an id); later figures of the same image reference it (<use href="#id">). */
#include "attribution/report_visual.h"

#include "core/common.h"

#include <math.h>
#include <string.h>

#define CS_REPORT_THUMB_SIDE 160              /* px */
#define CS_REPORT_THUMB_BUDGET (7u << 20)     /* bytes of data URIs in one report.html */
#define CS_REPORT_LATTICE_MAX_PLAYERS 8       /* full Hasse diagram up to 2^8 nodes */

/* ---- text ------------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s does not start one. */
static size_t cs_utf8_len(const unsigned char *s) {
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (s[0] == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (s[0] == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (s[0] == 0xF0 && s[1] < 0x90) return 0;
        if (s[0] == 0xF4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

void cs_html_text(FILE *f, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t n = cs_utf8_len(p);
        if (n == 0) { /* not UTF-8: the replacement character */
            fputs("\xEF\xBF\xBD", f);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if (*p < 0x20 && *p != '\t' && *p != '\n') fputs("\xEF\xBF\xBD", f); /* control bytes */
            else fputc(*p, f);
        }
        p++;
    }
}

char *cs_utf8_clean(const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    char *out = malloc(strlen((const char *)p) * 3 + 1), *o = out;
    if (!out) return NULL;
    while (*p) {
        size_t n = cs_utf8_len(p);
        if (n == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3, p++;
        } else {
            memcpy(o, p, n);
            o += n, p += n;
        }
    }
    *o = '\0';
    return out;
}

static cJSON *cs_jnum(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *cs_jstr(const char *s) {
    char *c = cs_utf8_clean(s);
    cJSON *j = c ? cJSON_CreateString(c) : cJSON_CreateNull();
    free(c);
    return j;
}

/* ---- report.json ------------------------------------------------------------------------------ */

void cs_report_json_visual(const cs_audit *a, cJSON *root) {
    const cs_audit_manifest *m = a->m;
    const int np = m->n_players;
    cJSON_AddItemToObject(root, "copy_threshold", cs_jnum(a->copy_threshold));
    cJSON_AddItemToObject(root, "similarity", a->nearest ? cJSON_CreateString(a->similarity) : cJSON_CreateNull());
    cJSON *co = cJSON_GetObjectItemCaseSensitive(root, "coalitions");
    for (size_t k = 0; k < a->n_coalitions && co; k++) {
        cJSON *o = cJSON_GetArrayItem(co, (int)k);
        if (!o) break;
        if (!a->nearest) {
            cJSON_AddNullToObject(o, "nearest");
            continue;
        }
        const cs_audit_nearest *nr = &a->nearest[k];
        cJSON *no = cJSON_AddObjectToObject(o, "nearest");
        cJSON_AddItemToObject(no, "nn_sim", cs_jnum(nr->nn_sim));
        cJSON_AddItemToObject(no, "copy_rate", cs_jnum(nr->copy_rate));
        cJSON *pairs = cJSON_AddArrayToObject(no, "pairs");
        for (int j = 0; j < nr->k; j++) {
            cJSON *p = cJSON_CreateObject();
            const char *gp = cs_audit_image_path(a, k, nr->gen[j]), *rp = cs_audit_image_path(a, a->n_coalitions, nr->ref[j]);
            cJSON_AddNumberToObject(p, "generated_index", (double)nr->gen[j]);
            cJSON_AddItemToObject(p, "generated", gp ? cs_jstr(gp) : cJSON_CreateNull());
            cJSON_AddNumberToObject(p, "reference_index", (double)nr->ref[j]);
            cJSON_AddItemToObject(p, "reference", rp ? cs_jstr(rp) : cJSON_CreateNull());
            cJSON_AddItemToObject(p, "similarity", cs_jnum(nr->sim[j]));
            cJSON_AddItemToArray(pairs, p);
        }
    }
    if (!a->interactions) {
        cJSON_AddNullToObject(root, "interactions");
        return;
    }
    cJSON *io = cJSON_AddObjectToObject(root, "interactions");
    cJSON_AddStringToObject(io, "index", "Shapley interaction index (Grabisch & Roubens 1999) of each pair; "
                                         "the diagonal is the Shapley value");
    cJSON *vals = cJSON_AddObjectToObject(io, "values");
    cJSON *ci = cJSON_AddObjectToObject(io, "ci95");
    cJSON *se = cJSON_AddObjectToObject(io, "std_error");
    for (int i = 0; i < np; i++) {
        cJSON *rv = cJSON_AddObjectToObject(vals, m->players[i]);
        cJSON *rc = a->interaction_ci ? cJSON_AddObjectToObject(ci, m->players[i]) : NULL;
        cJSON *rs = a->interaction_ci ? cJSON_AddObjectToObject(se, m->players[i]) : NULL;
        for (int j = 0; j < np; j++) {
            const size_t c = (size_t)i * np + j;
            cJSON_AddItemToObject(rv, m->players[j], cs_jnum(a->interactions[c]));
            if (rc) {
                cJSON *pr = cJSON_CreateArray();
                cJSON_AddItemToArray(pr, cs_jnum(a->interaction_ci[c].lo));
                cJSON_AddItemToArray(pr, cs_jnum(a->interaction_ci[c].hi));
                cJSON_AddItemToObject(rc, m->players[j], pr);
                cJSON_AddItemToObject(rs, m->players[j], cs_jnum(a->interaction_ci[c].se));
            }
        }
    }
    if (!a->interaction_ci) {
        cJSON_DeleteItemFromObject(io, "ci95");
        cJSON_DeleteItemFromObject(io, "std_error");
        cJSON_AddNullToObject(io, "ci95");
        cJSON_AddNullToObject(io, "std_error");
    }
}

/* ---- colours --------------------------------------------------------------------------------- */

/* Diverging: t in [-1, 1], blue for positive (toward the reference), red for negative. */
static void cs_colour_div(double t, char *buf, size_t cap) {
    if (!isfinite(t)) {
        snprintf(buf, cap, "#dddddd");
        return;
    }
    t = t < -1 ? -1 : t > 1 ? 1 : t;
    const double pos[3] = {31, 119, 180}, neg[3] = {214, 39, 40};
    const double *c = t >= 0 ? pos : neg, s = fabs(t);
    snprintf(buf, cap, "#%02x%02x%02x", (int)(255 + (c[0] - 255) * s + 0.5), (int)(255 + (c[1] - 255) * s + 0.5),
             (int)(255 + (c[2] - 255) * s + 0.5));
}

/* A colour legend of the diverging scale: 11 swatches from -amax to +amax. */
static void cs_legend_div(FILE *f, double amax, const char *what) {
    fputs("<svg class=\"chart\" width=\"420\" height=\"34\" role=\"img\" aria-label=\"colour scale\">", f);
    for (int i = 0; i <= 10; i++) {
        char colour[16];
        cs_colour_div((i - 5) / 5.0, colour, sizeof colour);
        fprintf(f, "<rect x=\"%d\" y=\"2\" width=\"20\" height=\"14\" fill=\"%s\" stroke=\"#ccc\"/>", 90 + 20 * i,
                colour);
    }
    fprintf(f, "<text x=\"86\" y=\"13\" font-size=\"11\" text-anchor=\"end\">%.3g</text><text x=\"314\" y=\"13\" "
            "font-size=\"11\">+%.3g</text><text x=\"200\" y=\"30\" font-size=\"11\" text-anchor=\"middle\">", -amax,
            amax);
    cs_html_text(f, what);
    fputs("</text></svg>\n", f);
}

/* ---- thumbnails ------------------------------------------------------------------------------- */

typedef struct cs_thumb_seen {
    size_t k;
    int64_t i;
    int w, h; /* w < 0: not shown (unreadable or over the budget) */
} cs_thumb_seen;

typedef struct cs_thumbs {
    size_t used;    /* bytes of data URIs written */
    size_t limit;   /* this section's share of the budget: up to `limit` bytes in all */
    size_t refused; /* thumbnails left out by the budget */
    cs_thumb_seen *seen; /* (n_seen) every image met so far: each is embedded once (id "ti<index>"),
                          * later figures reference it (<use href="#ti<index>">) */
    size_t n_seen, cap_seen;
} cs_thumbs;

/* One figure: the thumbnail of image i of coalition k (n_coalitions: the reference) or a
 * placeholder, the file's base name in its title, and a caption. */
static void cs_thumb(FILE *f, const cs_audit *a, cs_thumbs *t, size_t k, int64_t i, const char *caption) {
    const char *path = cs_audit_image_path(a, k, i);
    char *uri = NULL;
    int w = 0, h = 0;
    const char *why = "no image file";
    size_t id = 0;
    while (id < t->n_seen && (t->seen[id].k != k || t->seen[id].i != i)) id++;
    const int again = id < t->n_seen && t->seen[id].w > 0;
    if (id == t->n_seen && t->n_seen == t->cap_seen) { /* remember it (when memory allows) */
        size_t cap = t->cap_seen ? 2 * t->cap_seen : 256;
        cs_thumb_seen *ns = realloc(t->seen, cap * sizeof *ns);
        if (ns) t->seen = ns, t->cap_seen = cap;
    }
    const int fresh = id == t->n_seen && t->n_seen < t->cap_seen;
    if (again) {
        w = t->seen[id].w, h = t->seen[id].h;
    } else if (id < t->n_seen) {
        why = "not shown";
    } else if (path && t->used < t->limit) {
        if (cs_thumbnail_data_uri(path, CS_REPORT_THUMB_SIDE, &uri, &w, &h) != CS_OK) why = "not readable";
        else if (t->used + strlen(uri) > t->limit) {
            free(uri);
            uri = NULL;
            why = "size budget reached";
        }
    } else if (path) {
        why = "size budget reached";
    }
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    fputs("<figure class=\"th\" title=\"", f);
    cs_html_text(f, path ? path : "(unknown file)");
    fputs("\">", f);
    if (fresh) t->seen[t->n_seen++] = (cs_thumb_seen){k, i, uri ? w : -1, uri ? h : -1};
    if (again) {
        fprintf(f, "<svg class=\"ti\" width=\"%d\" height=\"%d\"><use href=\"#ti%zu\"/></svg>", w, h, id);
    } else if (uri && fresh) {
        fprintf(f, "<svg class=\"ti\" width=\"%d\" height=\"%d\"><image id=\"ti%zu\" width=\"%d\" height=\"%d\" "
                "href=\"%s\"/></svg>", w, h, id, w, h, uri);
        t->used += strlen(uri);
    } else if (uri) { /* no memory to remember it: embed it here */
        fprintf(f, "<svg class=\"ti\" width=\"%d\" height=\"%d\"><image width=\"%d\" height=\"%d\" href=\"%s\"/></svg>",
                w, h, w, h, uri);
        t->used += strlen(uri);
    }
    free(uri);
    if (!uri && !again) {
        if (path) t->refused++;
        fprintf(f, "<div class=\"ph\">%s</div>", why);
    }
    fputs("<figcaption>", f);
    if (caption) fputs(caption, f); /* caller's own markup (numbers) */
    else cs_html_text(f, base ? base : "");
    fputs("</figcaption></figure>", f);
}

static void cs_html_images(const cs_audit *a, FILE *f, cs_thumbs *t) {
    const size_t ns = a->n_coalitions;
    if (a->thumbnails <= 0) return;
    fputs("<h2>Reference and generated images</h2>\n", f);
    for (size_t j = 0; j <= ns; j++) { /* the reference first, then the coalitions in manifest order */
        const size_t k = j == 0 ? ns : j - 1;
        const int64_t n = k == ns ? a->n_reference : a->coalitions[k].n;
        const int64_t shown = n < a->thumbnails ? n : a->thumbnails;
        fputs("<div class=\"strip\"><div class=\"sl\"><b>", f);
        cs_html_text(f, k == ns ? "reference" : a->coalitions[k].label);
        if (!cs_audit_image_path(a, k, 0)) { /* statistics, or features without image paths */
            fprintf(f, "</b><br>%lld images: no image files known</div></div>\n", (long long)n);
            continue;
        }
        fprintf(f, "</b><br>%lld of %lld images", (long long)shown, (long long)n);
        if (k < ns && isfinite(a->coalitions[k].utility)) fprintf(f, "<br>utility %.4g", a->coalitions[k].utility);
        fputs("</div>", f);
        for (int64_t i = 0; i < shown; i++) cs_thumb(f, a, t, k, i, NULL);
        fputs("</div>\n", f);
    }
}

static void cs_html_nearest(const cs_audit *a, FILE *f, cs_thumbs *t) {
    if (!a->nearest) {
        fputs("<h2>Nearest-reference pairs</h2>\n<p>Not available: the reference has no feature rows or "
              "images (a statistics file).</p>\n", f);
        return;
    }
    fputs("<h2>Nearest-reference pairs</h2>\n<p>For each coalition, its generated images closest to any reference "
          "image by ", f);
    cs_html_text(f, a->similarity);
    fprintf(f, ", with that similarity; <i>nn-sim</i> is the mean over all its images of the nearest-reference "
            "similarity, <i>above %.4g</i> the share of its images whose similarity exceeds the copy threshold "
            "(<code>--copy-threshold</code>).</p>\n<table class=\"nn\"><tr><th class=\"l\">coalition</th><th>images</th>"
            "<th>nn-sim</th><th>above %.4g</th><th class=\"l\">closest pairs (generated | reference)</th></tr>\n",
            a->copy_threshold, a->copy_threshold);
    for (size_t k = 0; k < a->n_coalitions; k++) {
        const cs_audit_nearest *nr = &a->nearest[k];
        fputs("<tr><td class=\"l\">", f);
        cs_html_text(f, a->coalitions[k].label);
        fprintf(f, "</td><td>%lld</td><td>%.4f</td><td>%.1f%%</td><td class=\"l\"><div class=\"pairs\">", (long long)a->coalitions[k].n,
                nr->nn_sim, 100.0 * nr->copy_rate);
        for (int j = 0; j < nr->k; j++) {
            char cap[96];
            fputs("<span class=\"pair\">", f);
            snprintf(cap, sizeof cap, "generated #%lld", (long long)nr->gen[j]);
            cs_thumb(f, a, t, k, nr->gen[j], cap);
            snprintf(cap, sizeof cap, "reference #%lld", (long long)nr->ref[j]);
            cs_thumb(f, a, t, a->n_coalitions, nr->ref[j], cap);
            fprintf(f, "<span class=\"sc%s\">%.4f</span></span>", nr->sim[j] > a->copy_threshold ? " hot" : "",
                    nr->sim[j]);
        }
        fputs("</div></td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* ---- charts ---------------------------------------------------------------------------------- */

/* Every estimator's values side by side (dots) with their intervals (whiskers), one row per player. */
static void cs_html_estimators(const cs_audit *a, FILE *f) {
    const cs_audit_manifest *m = a->m;
    const int np = m->n_players, ne = (int)a->n_estimates;
    static const char *const col[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"};
    double lo = 0, hi = 0;
    for (int e = 0; e < ne; e++)
        for (int i = 0; i < np; i++) {
            const cs_audit_estimate *es = &a->estimates[e];
            double v[3] = {es->a.values[i], es->ci ? es->ci[i].lo : NAN, es->ci ? es->ci[i].hi : NAN};
            for (int j = 0; j < 3; j++)
                if (isfinite(v[j])) lo = v[j] < lo ? v[j] : lo, hi = v[j] > hi ? v[j] : hi;
        }
    if (hi - lo <= 0) hi = lo + 1;
    const double W = 700, left = 170, right = 20, top = 30, rowh = 10.0 + 12.0 * ne, pw = W - left - right;
    const double H = top + rowh * np + 30;
#define EX(v) (left + ((v)-lo) / (hi - lo) * pw)
    fputs("<h2>Every estimator, side by side</h2>\n", f);
    fprintf(f, "<svg class=\"chart\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-label=\"values of every estimator with intervals\">\n", W, H);
    for (int e = 0; e < ne; e++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"12\" r=\"4\" fill=\"%s\"/><text x=\"%.1f\" y=\"16\" font-size=\"12\">%s%s"
                "</text>\n", left + 110.0 * e, col[e % 6], left + 110.0 * e + 8, cs_estimator_name(a->estimates[e].a.estimator),
                (size_t)e == a->primary ? "*" : "");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", EX(0.0), top, EX(0.0),
            top + rowh * np);
    for (int i = 0; i < np; i++) {
        const double y0 = top + rowh * i;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"13\">", left - 8, y0 + rowh / 2 + 4);
        cs_html_text(f, m->players[i]);
        fputs("</text>\n", f);
        if (i % 2) fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#000\" "
                           "fill-opacity=\"0.04\"/>\n", left, y0, pw, rowh);
        for (int e = 0; e < ne; e++) {
            const cs_audit_estimate *es = &a->estimates[e];
            const double y = y0 + 11 + 12.0 * e, v = es->a.values[i];
            fputs("<g><title>", f);
            cs_html_text(f, m->players[i]);
            fprintf(f, ", %s: %.6g", cs_estimator_name(es->a.estimator), v);
            if (es->ci) fprintf(f, " [%.6g, %.6g]", es->ci[i].lo, es->ci[i].hi);
            fputs("</title>", f);
            if (es->ci && isfinite(es->ci[i].lo) && isfinite(es->ci[i].hi))
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>",
                        EX(es->ci[i].lo), y, EX(es->ci[i].hi), y, col[e % 6]);
            if (isfinite(v))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", EX(v), y, col[e % 6]);
            fputs("</g>\n", f);
        }
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.4g</text><text x=\"%.1f\" "
            "y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.4g</text><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
            "text-anchor=\"middle\">0</text>\n</svg>\n", EX(lo), H - 8, lo, EX(hi), H - 8, hi, EX(0.0), H - 8);
#undef EX
    fputs("<table><tr><th class=\"l\">player</th>", f);
    for (int e = 0; e < ne; e++)
        fprintf(f, "<th>%s%s</th>", cs_estimator_name(a->estimates[e].a.estimator), (size_t)e == a->primary ? " (primary)" : "");
    fputs("</tr>\n", f);
    for (int i = 0; i < np; i++) {
        fputs("<tr><td class=\"l\">", f);
        cs_html_text(f, m->players[i]);
        fputs("</td>", f);
        for (int e = 0; e < ne; e++) {
            const cs_audit_estimate *es = &a->estimates[e];
            fprintf(f, "<td>%.4f", es->a.values[i]);
            if (es->ci) fprintf(f, " <small>[%.4f, %.4f]</small>", es->ci[i].lo, es->ci[i].hi);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Each coalition's utility (bars) with its interval (whiskers). */
static void cs_html_coalition_chart(const cs_audit *a, FILE *f) {
    const size_t ns = a->n_coalitions;
    double lo = 0, hi = 0;
    for (size_t k = 0; k < ns; k++) {
        const cs_audit_coalition *c = &a->coalitions[k];
        double v[3] = {c->utility, a->bootstrap ? c->utility_ci.lo : NAN, a->bootstrap ? c->utility_ci.hi : NAN};
        for (int j = 0; j < 3; j++)
            if (isfinite(v[j])) lo = v[j] < lo ? v[j] : lo, hi = v[j] > hi ? v[j] : hi;
    }
    if (hi - lo <= 0) hi = lo + 1;
    const double W = 700, left = 250, right = 20, top = 10, rowh = 18, pw = W - left - right;
    const double H = top + rowh * (double)ns + 30;
#define CX(v) (left + ((v)-lo) / (hi - lo) * pw)
    fputs("<h2>Coalition utilities</h2>\n<p>", f);
    fputs(a->bootstrap ? "Bars: each coalition's utility; whiskers: its bootstrap interval." : "Bars: each coalition's "
          "utility (no bootstrap: no intervals).", f);
    fputs("</p>\n", f);
    fprintf(f, "<svg class=\"chart\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-label=\"coalition utilities with intervals\">\n", W, H);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", CX(0.0), top, CX(0.0),
            top + rowh * (double)ns);
    for (size_t k = 0; k < ns; k++) {
        const cs_audit_coalition *c = &a->coalitions[k];
        const double y = top + rowh * (double)k, v = isfinite(c->utility) ? c->utility : 0.0;
        const double x0 = CX(v < 0 ? v : 0.0), x1 = CX(v < 0 ? 0.0 : v);
        fprintf(f, "<g><title>");
        cs_html_text(f, c->label);
        fprintf(f, ": utility %.6g", c->utility);
        if (isfinite(c->fid)) fprintf(f, ", FID %.6g", c->fid);
        if (a->bootstrap) fprintf(f, " [%.6g, %.6g]", c->utility_ci.lo, c->utility_ci.hi);
        fprintf(f, "</title><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">", left - 6, y + 13);
        cs_html_text(f, c->label);
        fprintf(f, "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>", x0, y + 3,
                x1 - x0 > 0.5 ? x1 - x0 : 0.5, rowh - 6, v >= 0 ? "#1f77b4" : "#d62728");
        if (a->bootstrap && isfinite(c->utility_ci.lo) && isfinite(c->utility_ci.hi))
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>", CX(c->utility_ci.lo),
                    y + rowh / 2, CX(c->utility_ci.hi), y + rowh / 2);
        fputs("</g>\n", f);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.4g</text><text x=\"%.1f\" "
            "y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n</svg>\n", CX(lo), H - 8, lo, CX(hi), H - 8, hi);
#undef CX
}

/* The Hasse diagram of the coalition lattice: rank |S| from the bottom, an edge S - S+i; measured
 * coalitions coloured by utility, missing ones dashed. */
static void cs_html_lattice(const cs_audit *a, FILE *f) {
    const cs_audit_manifest *m = a->m;
    const int n = m->n_players;
    fputs("<h2>Coalition lattice</h2>\n", f);
    if (n > CS_REPORT_LATTICE_MAX_PLAYERS) {
        fprintf(f, "<p>Drawn for up to %d players (this audit has %d).</p>\n", CS_REPORT_LATTICE_MAX_PLAYERS, n);
        return;
    }
    const uint64_t full = 1ull << n;
    double *u = malloc((size_t)full * 2 * sizeof(double)), *fid = u ? u + full : NULL;
    double *px = malloc((size_t)full * 2 * sizeof(double)), *py = px ? px + full : NULL;
    if (!u || !px) {
        free(u), free(px);
        return;
    }
    for (uint64_t s = 0; s < full; s++) u[s] = fid[s] = NAN;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < a->n_coalitions; k++) {
        u[a->coalitions[k].mask] = a->coalitions[k].utility;
        fid[a->coalitions[k].mask] = a->coalitions[k].fid;
        if (isfinite(a->coalitions[k].utility)) {
            lo = fmin(lo, a->coalitions[k].utility);
            hi = fmax(hi, a->coalitions[k].utility);
        }
    }
    const double amax = fmax(fabs(lo), fabs(hi)) > 0 ? fmax(fabs(lo), fabs(hi)) : 1.0;
    int count[CS_REPORT_LATTICE_MAX_PLAYERS + 1] = {0}, seen[CS_REPORT_LATTICE_MAX_PLAYERS + 1] = {0}, widest = 1;
    for (uint64_t s = 0; s < full; s++) count[__builtin_popcountll(s)]++;
    for (int r = 0; r <= n; r++) widest = count[r] > widest ? count[r] : widest;
    const double dx = n <= 5 ? 96 : n <= 6 ? 44 : 22, dy = n <= 5 ? 70 : 60, rad = n <= 5 ? 15 : 8;
    const double W = fmax(400, dx * widest + 40), H = dy * n + 60;
    for (uint64_t s = 0; s < full; s++) {
        const int r = __builtin_popcountll(s);
        px[s] = W / 2 + ((double)seen[r]++ - (count[r] - 1) / 2.0) * dx;
        py[s] = H - 30 - r * dy;
    }
    fputs("<p>Each node is a coalition (bottom: the baseline; a line adds one player), coloured by its utility "
          "(blue: toward the reference, red: away); dashed white nodes were not measured. Hover a node for its "
          "name and value.</p>\n", f);
    fprintf(f, "<svg class=\"chart\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-label=\"coalition lattice\">\n<g stroke=\"#bbb\">", W, H);
    for (uint64_t s = 0; s < full; s++)
        for (int i = 0; i < n; i++)
            if (!(s >> i & 1))
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", px[s], py[s], px[s | 1ull << i],
                        py[s | 1ull << i]);
    fputs("</g>\n", f);
    for (uint64_t s = 0; s < full; s++) {
        char colour[16], lab[1024];
        size_t len = 0;
        lab[0] = '\0';
        for (int i = 0; i < n && len < sizeof lab - 300; i++)
            if (s >> i & 1) len += (size_t)snprintf(lab + len, sizeof lab - len, "%s%s", len ? "+" : "", m->players[i]);
        const int measured = isfinite(u[s]);
        cs_colour_div(measured ? u[s] / amax : NAN, colour, sizeof colour);
        fputs("<g><title>", f);
        cs_html_text(f, s ? lab : m->baseline);
        if (measured) fprintf(f, ": utility %.6g", u[s]);
        if (measured && isfinite(fid[s])) fprintf(f, ", FID %.6g", fid[s]);
        else fputs(": not measured", f);
        fprintf(f, "</title><circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\"%s/>", px[s], py[s], rad,
                measured ? colour : "#ffffff", measured ? "#333" : "#999", measured ? "" : " stroke-dasharray=\"3,2\"");
        if (n <= 5) { /* initials of the players inside the node */
            char ini[16];
            int p = 0;
            for (int i = 0; i < n && p < 15; i++)
                if (s >> i & 1) ini[p++] = m->players[i][0];
            ini[p] = '\0';
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">", px[s], py[s] + 3.5);
            cs_html_text(f, s ? ini : "\xE2\x88\x85");
            fputs("</text>", f);
        }
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
    cs_legend_div(f, amax, "utility (dashed white: not measured)");
    if (n <= 5) {
        fputs("<p><small>Node letters: ", f);
        for (int i = 0; i < n; i++) {
            fprintf(f, "%s", i ? ", " : "");
            cs_html_text(f, m->players[i]);
        }
        fputs(" (first letters); &#8709; = the baseline.</small></p>\n", f);
    }
    free(u), free(px);
}

/* The interaction indices as a heatmap (diagonal: the Shapley values, grey). */
static void cs_html_interactions(const cs_audit *a, FILE *f) {
    const cs_audit_manifest *m = a->m;
    const int n = m->n_players;
    fputs("<h2>Pairwise interactions</h2>\n", f);
    if (!a->interactions) {
        fputs("<p>Shapley interaction indices need every coalition measured", f);
        fputs(a->n_missing_total ? "; this audit misses some.</p>\n" : ".</p>\n", f);
        return;
    }
    double amax = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j && isfinite(a->interactions[(size_t)i * n + j]))
                amax = fmax(amax, fabs(a->interactions[(size_t)i * n + j]));
    if (amax <= 0) amax = 1;
    fputs("<p>Shapley interaction index I(i, j) (Grabisch &amp; Roubens): positive (blue) when two components move "
          "the images toward the reference more together than apart (complements), negative (red) when they "
          "substitute for each other. The diagonal (grey) holds each player's Shapley value.", f);
    if (a->interaction_ci) fputs(" <b>*</b>: the bootstrap interval excludes 0; hover a cell for its interval.", f);
    else if (a->bootstrap) fputs(" (No intervals: drawn for up to 10 players.)", f);
    fputs("</p>\n", f);
    const double cell = n <= 8 ? 64 : 600.0 / n, left = 150, top = 110;
    const double W = left + cell * n + 20, H = top + cell * n + 20;
    fprintf(f, "<svg class=\"chart\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-label=\"interaction heatmap\">\n", W, H);
    for (int i = 0; i < n; i++) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">", left - 6, top + cell * i + cell / 2 + 4);
        cs_html_text(f, m->players[i]);
        fprintf(f, "</text><text transform=\"translate(%.1f,%.1f) rotate(-45)\" font-size=\"12\">",
                left + cell * i + cell / 2, top - 6);
        cs_html_text(f, m->players[i]);
        fputs("</text>\n", f);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const size_t c = (size_t)i * n + j;
            const double v = a->interactions[c];
            char colour[16];
            if (i == j) snprintf(colour, sizeof colour, "#e0e0e0");
            else cs_colour_div(v / amax, colour, sizeof colour);
            const int sig = a->interaction_ci && i != j && (a->interaction_ci[c].lo > 0 || a->interaction_ci[c].hi < 0);
            fputs("<g><title>", f);
            if (i == j) {
                fputs("Shapley value of ", f);
                cs_html_text(f, m->players[i]);
            } else {
                fputs("I(", f);
                cs_html_text(f, m->players[i]);
                fputs(", ", f);
                cs_html_text(f, m->players[j]);
                fputs(")", f);
            }
            fprintf(f, " = %.6g", v);
            if (a->interaction_ci) fprintf(f, " [%.6g, %.6g]", a->interaction_ci[c].lo, a->interaction_ci[c].hi);
            fprintf(f, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#fff\"/>",
                    left + cell * j, top + cell * i, cell, cell, colour);
            if (cell >= 40)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.3g%s</text>",
                        left + cell * j + cell / 2, top + cell * i + cell / 2 + 4, v, sig ? "*" : "");
            fputs("</g>\n", f);
        }
    fputs("</svg>\n", f);
    cs_legend_div(f, amax, "interaction index I(i, j)");
}

void cs_report_html_visual(const cs_audit *a, FILE *f) {
    cs_thumbs t = {0, CS_REPORT_THUMB_BUDGET * 2 / 3, 0, NULL, 0, 0}; /* the strips leave a third for the pairs */
    fputs("<style>\n.strip{display:flex;flex-wrap:wrap;align-items:flex-start;gap:4px;margin:.4em 0;"
          "padding:.3em;border-bottom:1px solid #eee}.sl{width:12em;font-size:.85em;overflow-wrap:anywhere}\n"
          "figure.th{margin:0;display:inline-block;vertical-align:top;text-align:center;max-width:164px}"
          "svg.ti{display:block;border:1px solid #ccc}"
          "figcaption{font-size:.7em;color:#555;max-width:160px;overflow-wrap:anywhere}\n"
          ".ph{width:96px;height:64px;background:#f3f3f3;color:#888;font-size:.7em;display:flex;align-items:center;"
          "justify-content:center;border:1px dashed #bbb}\n.pair{display:inline-flex;align-items:center;gap:2px;"
          "margin:0 .8em .4em 0;padding:2px;border:1px solid #ddd;border-radius:3px}.sc{font-weight:bold;"
          "padding:0 .3em}.sc.hot{color:#b00020}\ntable.nn td{vertical-align:top}table.nn td:first-child{max-width:14em;"
          "overflow-wrap:anywhere}svg.chart{display:block;"
          "margin:.5em 0}\nbody{max-width:80em}.pairs{display:flex;flex-wrap:wrap}\n</style>\n", f);
    cs_html_estimators(a, f);
    cs_html_coalition_chart(a, f);
    cs_html_lattice(a, f);
    cs_html_interactions(a, f);
    cs_html_images(a, f, &t);
    t.limit = CS_REPORT_THUMB_BUDGET;
    cs_html_nearest(a, f, &t);
    if (t.refused)
        fprintf(f, "<p>%zu thumbnails were left out to keep this file under its size budget (%u MB of images).</p>\n",
                t.refused, CS_REPORT_THUMB_BUDGET >> 20);
    free(t.seen);
}
