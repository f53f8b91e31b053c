/* `--pdf`: report.pdf next to report.html, printed by headless Chromium (host/cli/report_pdf.c). */
#ifndef CS_CLI_REPORT_PDF_H
#define CS_CLI_REPORT_PDF_H

/* Print DIR/report.html to DIR/report.pdf (atomically: a temporary name, then rename). No
 * browser: one line on stderr and 0 (the audit's reports are complete). Returns 0, or 1 when the
 * browser ran and failed (one line on stderr). */
int cs_report_pdf(const char *cmd, const char *dir, int quiet);

#endif
