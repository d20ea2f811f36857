/* report.h - OUT/report.html of `clft train` (report.c). */
#ifndef CLFT_TOOL_REPORT_H
#define CLFT_TOOL_REPORT_H

#include <stddef.h>

/* Write path (temp + rename) from metrics_path (metrics.jsonl) and three JSON objects shown as
 * tables (each may be NULL): the run summary, the settings, the dataset statistics. Returns 1, or
 * 0 with the reason in err. */
int report_write(const char *path, const char *metrics_path, const char *title, const char *summary_json,
                 const char *settings_json, const char *dataset_json, char *err, size_t errcap);

#endif
