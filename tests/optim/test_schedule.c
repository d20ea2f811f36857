/* test_schedule.c - learning-rate schedules against transformers' get_scheduler (fixture
 * tests/optim/lr_reference.json from tests/reference/hf_schedule_reference.py): every update of
 * every case to 1e-12 relative; past the last step clft keeps the final value (transformers'
 * cosine would rise again); names, parsing and bad values. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

#ifndef SCHEDULE_FIXTURE
#define SCHEDULE_FIXTURE "lr_reference.json"
#endif

int main(void) {
    char *text = tu_read_file(SCHEDULE_FIXTURE, NULL);
    TU_CHECK(text != NULL, "cannot read %s", SCHEDULE_FIXTURE);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases"), *c;
    int ncases = 0;
    cJSON_ArrayForEach(c, cases) {
        clft_lr_schedule s;
        memset(&s, 0, sizeof s);
        TU_OK(clft_lr_schedule_parse(cJSON_GetObjectItemCaseSensitive(c, "type")->valuestring, &s.type));
        s.lr = cJSON_GetObjectItemCaseSensitive(c, "lr")->valuedouble;
        s.min_lr = cJSON_GetObjectItemCaseSensitive(c, "min_lr")->valuedouble;
        s.warmup_steps = (int64_t)cJSON_GetObjectItemCaseSensitive(c, "warmup")->valuedouble;
        s.total_steps = (int64_t)cJSON_GetObjectItemCaseSensitive(c, "total")->valuedouble;
        TU_OK(clft_lr_schedule_check(&s));
        const cJSON *lrs = cJSON_GetObjectItemCaseSensitive(c, "lrs");
        int64_t step = 0;
        double last = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, lrs) {
            const double got = clft_lr_at(&s, step);
            if (step < s.total_steps) {
                TU_CHECK(fabs(got - v->valuedouble) <= 1e-12 * s.lr,
                         "%s warmup %lld total %lld min %g step %lld: %.12g vs %.12g", clft_lr_schedule_name(s.type),
                         (long long)s.warmup_steps, (long long)s.total_steps, s.min_lr, (long long)step, got,
                         v->valuedouble);
                last = got;
            } else {
                const double end = s.type == CLFT_LR_CONSTANT ? s.lr : s.min_lr;
                TU_CHECK(fabs(got - end) <= 1e-15, "past the end (step %lld): %g, expected %g", (long long)step, got,
                         end);
            }
            step++;
        }
        (void)last;
        ncases++;
    }
    TU_CHECK(ncases >= 9, "%d schedules in the fixture", ncases);
    /* names and parsing */
    clft_lr_schedule_type t;
    TU_CHECK(clft_lr_schedule_parse("cosine", &t) == CLFT_OK && t == CLFT_LR_COSINE, "parse cosine");
    TU_CHECK(clft_lr_schedule_parse("Cosine", &t) == CLFT_STATUS_INVALID_ARGUMENT, "names are exact");
    TU_CHECK(strstr(clft_last_error(), "constant, linear or cosine") != NULL, "error lists choices: %s",
             clft_last_error());
    TU_CHECK(clft_lr_schedule_name((clft_lr_schedule_type)7) == NULL, "unknown type has no name");
    /* bad values */
    const clft_lr_schedule good = {CLFT_LR_COSINE, 1e-3, 0.0, 2, 10};
    clft_lr_schedule b = good;
    b.lr = 0;
    TU_CHECK(clft_lr_schedule_check(&b) == CLFT_STATUS_INVALID_ARGUMENT && clft_lr_at(&b, 3) == 0.0, "lr 0 refused");
    b = good;
    b.lr = NAN;
    TU_CHECK(clft_lr_schedule_check(&b) == CLFT_STATUS_INVALID_ARGUMENT, "lr NaN refused");
    b = good;
    b.min_lr = 2e-3;
    TU_CHECK(clft_lr_schedule_check(&b) == CLFT_STATUS_INVALID_ARGUMENT, "min_lr above lr refused");
    b = good;
    b.warmup_steps = 11;
    TU_CHECK(clft_lr_schedule_check(&b) == CLFT_STATUS_INVALID_ARGUMENT, "warmup above total refused");
    b = good;
    b.total_steps = 0;
    TU_CHECK(clft_lr_schedule_check(&b) == CLFT_STATUS_INVALID_ARGUMENT, "0 total steps refused");
    TU_CHECK(clft_lr_schedule_check(NULL) == CLFT_STATUS_INVALID_ARGUMENT, "NULL refused");
    cJSON_Delete(root);
    free(text);
    return tu_finish("test_schedule");
}
