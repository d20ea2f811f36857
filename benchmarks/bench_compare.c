/* bench_compare.c - `clft bench compare A.json B.json ... [--html OUT.html]`: clft-bench/1 documents
 * of any suites and devices side by side. Prints one Markdown table (a row per entry name, a column
 * per file, the median in the entry's unit; entries are matched by name) and, with --html, writes one
 * self-contained page (inline CSS and inline SVG bar charts, no script, no external resource):
 * training tokens/s, utilization (MFU of the training runs, fraction of the limit of the kernels),
 * peak device memory per device and method, and the device limits; a device keeps one color. Bad input (a missing file,
 * a file that is not a clft-bench document, another schema version, an unknown suite) is one line naming the file and
 * the problem, exit status 2. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define CMP_MAX_FILES 16

typedef struct doc {
    const char *path;
    cJSON *j;
    char label[200]; /* "A: device (platform, suite)" */
    int color;       /* one color per device (name and platform), whatever the suite */
} doc;

static int load(doc *d, int idx) {
    char *text = NULL;
    size_t size = 0;
    if (clft_io_read_file(d->path, &text, &size) != CLFT_OK) {
        fprintf(stderr, "bench compare: %s: cannot read the file (%s)\n", d->path, clft_last_error());
        return 2;
    }
    d->j = cJSON_ParseWithLength(text, size);
    free(text);
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(d->j, "schema");
    if (!cJSON_IsObject(d->j) || !cJSON_IsString(schema) || strncmp(schema->valuestring, "clft-bench/", 11) != 0) {
        fprintf(stderr, "bench compare: %s: not a clft-bench JSON document (no \"schema\": \"%s\")\n", d->path,
                BENCH_SCHEMA);
        return 2;
    }
    if (strcmp(schema->valuestring, BENCH_SCHEMA) != 0) {
        fprintf(stderr, "bench compare: %s: schema %s is not supported (this clft reads %s)\n", d->path,
                schema->valuestring, BENCH_SCHEMA);
        return 2;
    }
    const char *suite = bench_json_str(d->j, "suite");
    if (strcmp(suite, "device") && strcmp(suite, "kernels") && strcmp(suite, "train")) {
        fprintf(stderr, "bench compare: %s: unknown suite '%s' (expected device, kernels or train)\n", d->path, suite);
        return 2;
    }
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d->j, "entries"))) {
        fprintf(stderr, "bench compare: %s: no \"entries\" array\n", d->path);
        return 2;
    }
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(d->j, "device");
    snprintf(d->label, sizeof d->label, "%c: %s (%s, %s)", 'A' + idx, bench_json_str(dev, "name"),
             bench_json_str(dev, "platform"), suite);
    return 0;
}

static const cJSON *find_entry(const cJSON *j, const char *name) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "entries")) {
        if (!strcmp(bench_json_str(e, "name"), name)) return e;
    }
    return NULL;
}

/* The unit of an entry: from the first file that has it. */
static const char *entry_unit(const doc *d, int n, const char *name) {
    for (int f = 0; f < n; f++) {
        const cJSON *e = find_entry(d[f].j, name);
        if (e) return bench_json_str(e, "unit");
    }
    return "";
}

/* Names of all entries, in the order of first appearance (pointers into the documents). */
static const char **all_names(const doc *d, int n, int *count) {
    int cap = 64, k = 0;
    const char **names = malloc((size_t)cap * sizeof *names);
    for (int f = 0; names && f < n; f++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d[f].j, "entries")) {
            const char *nm = bench_json_str(e, "name");
            int seen = 0;
            for (int i = 0; i < k && !seen; i++)
                seen = !strcmp(names[i], nm);
            if (seen) continue;
            if (k == cap) {
                const char **g = realloc(names, (size_t)(cap *= 2) * sizeof *names);
                if (!g) {
                    free(names);
                    return NULL;
                }
                names = g;
            }
            names[k++] = nm;
        }
    }
    *count = k;
    return names;
}

static void markdown(clft_sbuf *b, const doc *d, int n, const char **names, int count) {
    for (int f = 0; f < n; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(d[f].j, "clft");
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(d[f].j, "device");
        clft_sbuf_printf(b, "- %s: %s, driver %s, clft %s (%s)\n", d[f].label, d[f].path,
                         bench_json_str(dev, "driver_version"), bench_json_str(v, "version"),
                         bench_json_str(v, "git_revision"));
    }
    clft_sbuf_printf(b, "\n| entry | unit |");
    for (int f = 0; f < n; f++)
        clft_sbuf_printf(b, " %c |", 'A' + f);
    clft_sbuf_printf(b, "\n|---|---|");
    for (int f = 0; f < n; f++)
        clft_sbuf_printf(b, "---:|");
    clft_sbuf_printf(b, "\n");
    for (int i = 0; i < count; i++) {
        clft_sbuf_printf(b, "| %s | %s |", names[i], entry_unit(d, n, names[i]));
        for (int f = 0; f < n; f++) {
            const cJSON *e = find_entry(d[f].j, names[i]);
            if (e)
                clft_sbuf_printf(b, " %.4g |", bench_json_num(e, "median", 0));
            else
                clft_sbuf_printf(b, " - |");
        }
        clft_sbuf_printf(b, "\n");
    }
}

/* ---- HTML --------------------------------------------------------------------------------------- */

static void esc(clft_sbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': clft_sbuf_printf(b, "&lt;"); break;
        case '>': clft_sbuf_printf(b, "&gt;"); break;
        case '&': clft_sbuf_printf(b, "&amp;"); break;
        case '"': clft_sbuf_printf(b, "&quot;"); break;
        default: clft_sbuf_put(b, s, 1);
        }
    }
}

static const char *const COLORS[] = {"#2f6db5", "#e07b28", "#3a9a48", "#c23b3b", "#7d55b8",
                                     "#8c6a4f", "#d16aa8", "#6f6f6f", "#a8a832", "#2eb1c2"};

/* Which entries a chart shows and the value it plots. */
typedef struct chart {
    const char *title, *unit;
    const char *group;  /* entry group, or NULL for any */
    const char *metric; /* entry "metric", or NULL */
    int fraction;       /* plot fraction_of_limit (entries that have one) instead of the median */
} chart;

static int chart_takes(const chart *c, const cJSON *e) {
    if (c->group && strcmp(bench_json_str(e, "group"), c->group) != 0) return 0;
    if (c->metric && strcmp(bench_json_str(e, "metric"), c->metric) != 0) return 0;
    if (c->unit && !c->fraction && strcmp(bench_json_str(e, "unit"), c->unit) != 0) return 0;
    if (c->fraction && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "fraction_of_limit"))) return 0;
    return 1;
}

static double chart_value(const chart *c, const cJSON *e) {
    return c->fraction ? bench_json_num(e, "fraction_of_limit", 0) : bench_json_num(e, "median", 0);
}

/* One horizontal bar chart: a row of bars (one per file that has the entry) per entry name. */
static void svg_chart(clft_sbuf *b, const chart *c, const doc *d, int n, const char **names, int count) {
    double maxv = 0;
    int rows = 0, bars = 0;
    for (int i = 0; i < count; i++) {
        int any = 0;
        for (int f = 0; f < n; f++) {
            const cJSON *e = find_entry(d[f].j, names[i]);
            if (!e || !chart_takes(c, e)) continue;
            const double v = chart_value(c, e);
            if (v > maxv) maxv = v;
            any = 1;
            bars++;
        }
        rows += any;
    }
    if (!bars) return;
    const int label_w = 360, plot_w = 420, bar_h = 14, gap = 8, width = label_w + plot_w + 90;
    const int height = bars * bar_h + rows * gap + 10;
    clft_sbuf_printf(b, "<h2>");
    esc(b, c->title);
    clft_sbuf_printf(b, "</h2>\n<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
                     width, height, width, height);
    int y = 5;
    for (int i = 0; i < count; i++) {
        int first = 1;
        for (int f = 0; f < n; f++) {
            const cJSON *e = find_entry(d[f].j, names[i]);
            if (!e || !chart_takes(c, e)) continue;
            const double v = chart_value(c, e);
            const double w = maxv > 0 ? v / maxv * plot_w : 0;
            if (first) {
                clft_sbuf_printf(b, "<text class=\"label\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 6,
                                 y + bar_h - 3);
                esc(b, names[i]);
                clft_sbuf_printf(b, "</text>\n");
                first = 0;
            }
            clft_sbuf_printf(b,
                             "<rect class=\"bar\" data-file=\"%c\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                             "fill=\"%s\"><title>%c: %.4g %s</title></rect>\n",
                             'A' + f, label_w, y, w < 1 ? 1.0 : w, bar_h - 2, COLORS[d[f].color % 10], 'A' + f, v,
                             c->fraction ? "of limit" : c->unit);
            clft_sbuf_printf(b, "<text class=\"value\" x=\"%.1f\" y=\"%d\">%c %.4g</text>\n",
                             label_w + (w < 1 ? 1.0 : w) + 4, y + bar_h - 3, 'A' + f, v);
            y += bar_h;
        }
        if (!first) y += gap;
    }
    clft_sbuf_printf(b, "</svg>\n");
}

static void html(clft_sbuf *b, const doc *d, int n, const char **names, int count, const char *md) {
    clft_sbuf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<title>clft bench compare</title>\n<style>\n"
                        "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}\n"
                        "h1{font-size:22px}h2{font-size:17px;margin-top:28px}\n"
                        "svg.chart text{font-size:11px;fill:#222}\n"
                        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}\n"
                        "td.num{text-align:right}.key{display:inline-block;width:12px;height:12px;margin-right:6px}\n"
                        "pre{font-size:11px;background:#f6f6f6;padding:8px;overflow:auto}\n"
                        "</style>\n</head>\n<body>\n<h1>clft bench compare</h1>\n<ul class=\"legend\">\n");
    for (int f = 0; f < n; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(d[f].j, "clft");
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(d[f].j, "device");
        clft_sbuf_printf(b, "<li><span class=\"key\" style=\"background:%s\"></span>", COLORS[d[f].color % 10]);
        esc(b, d[f].label);
        clft_sbuf_printf(b, " - driver ");
        esc(b, bench_json_str(dev, "driver_version"));
        clft_sbuf_printf(b, ", clft ");
        esc(b, bench_json_str(v, "version"));
        clft_sbuf_printf(b, " (");
        esc(b, bench_json_str(v, "git_revision"));
        clft_sbuf_printf(b, "), ");
        esc(b, d[f].path);
        clft_sbuf_printf(b, "</li>\n");
    }
    clft_sbuf_printf(b, "</ul>\n");
    static const chart CHARTS[] = {
        {"Training throughput (tokens/s)", "tokens/s", "train", "tokens_per_second", 0},
        {"Model FLOP utilization (MFU)", "fraction", "train", "mfu", 0},
        {"Peak device memory (MiB)", "MiB", "memory", "peak_memory", 0},
        {"Training step split by op family (s/step)", "s/step", "op split", NULL, 0},
        {"Device memory bandwidth (GB/s)", "GB/s", "device", NULL, 0},
        {"Device FMA throughput (GFLOP/s)", "GFLOP/s", "device", NULL, 0},
        {"Host-device transfers (GB/s)", "GB/s", "transfer", NULL, 0},
        {"Kernel utilization (fraction of the device limit)", NULL, NULL, NULL, 1},
    };
    for (size_t i = 0; i < sizeof CHARTS / sizeof CHARTS[0]; i++)
        svg_chart(b, &CHARTS[i], d, n, names, count);
    clft_sbuf_printf(b, "<h2>All entries (median)</h2>\n<table>\n<tr><th>entry</th><th>unit</th>");
    for (int f = 0; f < n; f++)
        clft_sbuf_printf(b, "<th>%c</th>", 'A' + f);
    clft_sbuf_printf(b, "</tr>\n");
    for (int i = 0; i < count; i++) {
        clft_sbuf_printf(b, "<tr><td>");
        esc(b, names[i]);
        clft_sbuf_printf(b, "</td><td>");
        esc(b, entry_unit(d, n, names[i]));
        clft_sbuf_printf(b, "</td>");
        for (int f = 0; f < n; f++) {
            const cJSON *e = find_entry(d[f].j, names[i]);
            if (e)
                clft_sbuf_printf(b, "<td class=\"num\">%.4g</td>", bench_json_num(e, "median", 0));
            else
                clft_sbuf_printf(b, "<td class=\"num\">-</td>");
        }
        clft_sbuf_printf(b, "</tr>\n");
    }
    clft_sbuf_printf(b, "</table>\n<h2>Markdown</h2>\n<pre>");
    esc(b, md);
    clft_sbuf_printf(b, "</pre>\n</body>\n</html>\n");
}

int clft_bench_compare_main(int argc, char **argv) {
    doc d[CMP_MAX_FILES];
    int n = 0;
    const char *html_path = NULL;
    memset(d, 0, sizeof d);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--html") && i + 1 < argc)
            html_path = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr,
                    "bench compare: unknown option %s (usage: clft bench compare A.json B.json ... "
                    "[--html OUT.html])\n",
                    argv[i]);
            return 2;
        } else if (n == CMP_MAX_FILES) {
            fprintf(stderr, "bench compare: at most %d files\n", CMP_MAX_FILES);
            return 2;
        } else
            d[n++].path = argv[i];
    }
    if (n == 0) {
        fprintf(stderr, "bench compare: no files (usage: clft bench compare A.json B.json ... [--html OUT.html])\n");
        return 2;
    }
    int rc = 0, ncolors = 0;
    for (int f = 0; f < n && rc == 0; f++) {
        rc = load(&d[f], f);
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(d[f].j, "device");
        d[f].color = -1;
        for (int g = 0; rc == 0 && g < f && d[f].color < 0; g++) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(d[g].j, "device");
            if (!strcmp(bench_json_str(dev, "name"), bench_json_str(o, "name")) &&
                !strcmp(bench_json_str(dev, "platform"), bench_json_str(o, "platform")))
                d[f].color = d[g].color;
        }
        if (d[f].color < 0) d[f].color = ncolors++;
    }
    int count = 0;
    const char **names = rc == 0 ? all_names(d, n, &count) : NULL;
    clft_sbuf md = {0}, page = {0};
    if (rc == 0 && !names) rc = 1;
    if (rc == 0) {
        markdown(&md, d, n, names, count);
        if (md.failed) rc = 1;
    }
    if (rc == 0) fputs(md.data, stdout);
    if (rc == 0 && html_path) {
        html(&page, d, n, names, count, md.data);
        if (page.failed || clft_io_write_atomic(html_path, page.data, page.len) != CLFT_OK) {
            fprintf(stderr, "bench compare: %s: %s\n", html_path, page.failed ? "out of memory" : clft_last_error());
            rc = 1;
        }
    }
    if (rc == 1 && !html_path && (md.failed || !names)) fprintf(stderr, "bench compare: out of host memory\n");
    clft_sbuf_free(&md);
    clft_sbuf_free(&page);
    free(names);
    for (int f = 0; f < n; f++)
        cJSON_Delete(d[f].j);
    return rc;
}
