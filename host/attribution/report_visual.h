/* The report's pictures and the data behind them (issue 18): nearest-reference pairs, thumbnails,
 * the coalition lattice, interaction indices, estimators and coalitions with intervals (internal;
 * host/attribution/report_visual.c, report_thumbs.c). */
#ifndef CS_ATTRIBUTION_REPORT_VISUAL_H
#define CS_ATTRIBUTION_REPORT_VISUAL_H

#include "copyscope/audit.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* Text as HTML: <, >, &, ", ' escaped; bytes that are not valid UTF-8 become U+FFFD, so that any
 * file name is shown as text and never changes the document's structure. */
void cs_html_text(FILE *f, const char *s);
/* A malloc'd copy of s with invalid UTF-8 replaced by U+FFFD (for JSON), or NULL (out of memory). */
char *cs_utf8_clean(const char *s);

/* report.json: copy_threshold, similarity, per-coalition "nearest", "interactions". */
void cs_report_json_visual(const cs_audit *a, cJSON *root);
/* report.html's sections after the summary: images, nearest pairs, estimators, coalitions chart,
 * lattice, interactions. */
void cs_report_html_visual(const cs_audit *a, FILE *f);

/* A thumbnail of an image file as a data URI ("data:image/jpeg;base64,..."): decoded with
 * cs_image_decode_limited, shrunk to fit max_side x max_side with PIL's antialiased bicubic filter
 * (cs_image_resize; never enlarged), JPEG quality 80 (libjpeg). *uri malloc'd; *w, *h its size.
 * CS_E_* when the file is not a regular file, is over 256 MB or 67 Mpixel, or cannot be decoded. */
cs_status cs_thumbnail_data_uri(const char *path, int max_side, char **uri, int *w, int *h);

#endif
