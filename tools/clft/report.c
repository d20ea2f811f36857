/* report.c - OUT/report.html of `clft train`: one self-contained file (no script, no network) with
 * the run summary, inline SVG plots of the training loss, every eval set's loss and the learning
 * rate per step, the settings, the dataset statistics and the throughput. Built from
 * OUT/metrics.jsonl (one JSON object per step; eval lines carry "eval") and the caller's JSON
 * blocks, written to a temporary file and renamed. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clft.h"
#include "report.h"

typedef struct series {
    char name[64];
    double *x, *y;
    size_t n, cap;
} series;

static void push(series *s, double x, double y) {
    if (!isfinite(y)) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, cap * sizeof *nx), *ny = realloc(s->y, cap * sizeof *ny);
        if (!nx || !ny) {
            free(nx ? nx : s->x);
            free(ny ? ny : s->y);
            s->x = s->y = NULL;
            s->n = s->cap = 0;
            return;
        }
        s->x = nx, s->y = ny, s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

static void html_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"};

/* A line plot of several series sharing axes; log_y for losses spanning decades. */
static void svg_plot(FILE *f, const char *title, const char *ylabel, series *s, int ns) {
    const double W = 720, H = 300, L = 64, R = 16, T = 28, B = 40;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < ns; i++)
        for (size_t k = 0; k < s[i].n; k++) {
            x0 = fmin(x0, s[i].x[k]), x1 = fmax(x1, s[i].x[k]);
            y0 = fmin(y0, s[i].y[k]), y1 = fmax(y1, s[i].y[k]);
        }
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "role=\"img\" aria-label=\"",
            W, H, W, H);
    html_text(f, title);
    fprintf(f,
            "\"><rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n<text x=\"%.0f\" y=\"18\" "
            "font-size=\"14\" font-weight=\"bold\">",
            L);
    html_text(f, title);
    fputs("</text>\n", f);
    if (!(x1 >= x0) || !(y1 >= y0)) {
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" fill=\"#666\">no data</text></svg>\n", W / 2 - 30,
                H / 2);
        return;
    }
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) y1 = y0 + fabs(y0) * 0.1 + 1e-12;
    const double pad = (y1 - y0) * 0.05;
    y0 = y0 >= 0 && y0 - pad < 0 ? 0 : y0 - pad; /* a non-negative quantity keeps a non-negative axis */
    y1 += pad;
    const double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v)-x0) / (x1 - x0) * pw)
#define PY(v) (T + (1 - ((v)-y0) / (y1 - y0)) * ph)
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#999\"/>\n", L, T, pw,
            ph);
    for (int i = 0; i <= 4; i++) { /* grid and tick labels */
        const double yv = y0 + (y1 - y0) * i / 4.0, xv = x0 + (x1 - x0) * i / 4.0;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", L, L + pw, PY(yv),
                PY(yv));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>", L - 4, PY(yv) + 4,
                yv);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.0f</text>\n", PX(xv),
                T + ph + 16, xv);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">step</text>", L + pw / 2, H - 6);
    fprintf(f, "<text x=\"14\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">",
            T + ph / 2, T + ph / 2);
    html_text(f, ylabel);
    fputs("</text>\n", f);
    for (int i = 0; i < ns; i++) {
        const char *col = COLORS[i % 7];
        if (s[i].n == 1) {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(s[i].x[0]), PY(s[i].y[0]), col);
        } else if (s[i].n > 1) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", col);
            for (size_t k = 0; k < s[i].n; k++)
                fprintf(f, "%.1f,%.1f ", PX(s[i].x[k]), PY(s[i].y[k]));
            fputs("\"/>\n", f);
        }
        fprintf(f,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\" "
                "font-size=\"12\">",
                L + pw - 170, T + 8 + 16.0 * i, col, L + pw - 155, T + 17 + 16.0 * i);
        html_text(f, s[i].name);
        fputs("</text>\n", f);
    }
#undef PX
#undef PY
    fputs("</svg>\n", f);
}

/* A flat JSON object as a two-column table (nested values as compact JSON). */
static void kv_table(FILE *f, const char *title, const cJSON *obj) {
    fputs("<h2>", f);
    html_text(f, title);
    fputs("</h2>\n<table>\n", f);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        fputs("<tr><th>", f);
        html_text(f, it->string);
        fputs("</th><td>", f);
        if (cJSON_IsString(it)) {
            html_text(f, it->valuestring);
        } else {
            char *t = cJSON_PrintUnformatted(it);
            html_text(f, t);
            free(t);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

int report_write(const char *path, const char *metrics_path, const char *title, const char *summary_json,
                 const char *settings_json, const char *dataset_json, char *err, size_t errcap) {
    FILE *in = fopen(metrics_path, "r");
    if (!in) {
        snprintf(err, errcap, "%s: cannot read the metrics", metrics_path);
        return 0;
    }
    series loss, lr, tps, evals[6];
    memset(&loss, 0, sizeof loss), memset(&lr, 0, sizeof lr), memset(&tps, 0, sizeof tps);
    memset(evals, 0, sizeof evals);
    snprintf(loss.name, sizeof loss.name, "training loss");
    snprintf(lr.name, sizeof lr.name, "learning rate");
    snprintf(tps.name, sizeof tps.name, "tokens/s");
    int nevals = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
        cJSON *o = cJSON_Parse(line);
        if (!o) continue;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "step");
        if (cJSON_IsNumber(st)) {
            const double x = st->valuedouble;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "loss");
            if (cJSON_IsNumber(v)) push(&loss, x, v->valuedouble);
            if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "lr"))) push(&lr, x, v->valuedouble);
            if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "tokens_per_s"))) push(&tps, x, v->valuedouble);
            const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "eval"), *e;
            cJSON_ArrayForEach(e, ev) {
                if (!cJSON_IsNumber(e)) continue;
                int k = 0;
                while (k < nevals && strcmp(evals[k].name, e->string))
                    k++;
                if (k == nevals && nevals < 6) snprintf(evals[nevals++].name, sizeof evals[0].name, "%s", e->string);
                if (k < nevals) push(&evals[k], x, e->valuedouble);
            }
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(in);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errcap, "%s: cannot write", tmp);
        return 0;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
    html_text(f, title);
    fputs("</title>\n<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:960px}"
          "table{border-collapse:collapse;margin-bottom:16px}th,td{border:1px solid #ddd;padding:3px 8px;"
          "text-align:left;font-size:13px;vertical-align:top}th{background:#f4f4f4;font-weight:600}"
          "h1{font-size:22px}h2{font-size:17px;margin-top:28px}svg{display:block;margin:8px 0}</style>\n"
          "</head><body>\n<h1>",
          f);
    html_text(f, title);
    fputs("</h1>\n", f);
    cJSON *sum = summary_json ? cJSON_Parse(summary_json) : NULL,
          *set = settings_json ? cJSON_Parse(settings_json) : NULL,
          *ds = dataset_json ? cJSON_Parse(dataset_json) : NULL;
    if (sum) kv_table(f, "Run", sum);
    fputs("<h2>Loss</h2>\n", f);
    series ls[7];
    int nl = 0;
    ls[nl++] = loss;
    for (int k = 0; k < nevals; k++) {
        ls[nl] = evals[k];
        snprintf(ls[nl].name, sizeof ls[nl].name, "eval: %.50s", evals[k].name);
        nl++;
    }
    svg_plot(f, "Training and evaluation loss", "loss", ls, nl);
    fputs("<h2>Learning rate</h2>\n", f);
    svg_plot(f, "Learning rate", "lr", &lr, 1);
    fputs("<h2>Throughput</h2>\n", f);
    svg_plot(f, "Tokens per second", "tokens/s", &tps, 1);
    if (ds) kv_table(f, "Dataset", ds);
    if (set) kv_table(f, "Settings", set);
    fputs("<p style=\"color:#888;font-size:12px\">Written by clft ", f);
    html_text(f, clft_version_string());
    fputs(" from metrics.jsonl.</p>\n</body></html>\n", f);
    cJSON_Delete(sum), cJSON_Delete(set), cJSON_Delete(ds);
    free(loss.x), free(loss.y), free(lr.x), free(lr.y), free(tps.x), free(tps.y);
    for (int k = 0; k < nevals; k++)
        free(evals[k].x), free(evals[k].y);
    const int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        snprintf(err, errcap, "%s: cannot write the report", path);
        return 0;
    }
    return 1;
}
