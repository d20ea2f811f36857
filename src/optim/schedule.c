/* schedule.c - learning-rate schedules (constant, linear, cosine with linear warmup and a floor),
 * the formulas of transformers' get_scheduler (include/clft.h states them). Host only. */
#include <math.h>
#include <string.h>

#include "clft.h"
#include "core/core.h"

static const char *const NAMES[] = {"constant", "linear", "cosine"};

const char *clft_lr_schedule_name(clft_lr_schedule_type type) {
    return type >= CLFT_LR_CONSTANT && type <= CLFT_LR_COSINE ? NAMES[type] : NULL;
}

clft_status clft_lr_schedule_parse(const char *name, clft_lr_schedule_type *out) {
    for (int i = 0; name && out && i < 3; i++)
        if (!strcmp(name, NAMES[i])) {
            *out = (clft_lr_schedule_type)i;
            return CLFT_OK;
        }
    return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                      "unknown learning-rate schedule '%s' (use constant, linear or cosine)", name ? name : "(null)");
}

/* The conditions clft_lr_schedule_check names, without recording an error. */
static int schedule_ok(const clft_lr_schedule *s) {
    return s && clft_lr_schedule_name(s->type) && s->lr > 0 && isfinite(s->lr) && s->min_lr >= 0 &&
           s->min_lr <= s->lr && s->total_steps >= 1 && s->warmup_steps >= 0 && s->warmup_steps <= s->total_steps;
}

clft_status clft_lr_schedule_check(const clft_lr_schedule *s) {
    if (schedule_ok(s)) return CLFT_OK;
    if (!s) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "learning-rate schedule: NULL");
    if (!clft_lr_schedule_name(s->type))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "learning-rate schedule: unknown type %d", (int)s->type);
    if (!(s->lr > 0) || !isfinite(s->lr))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "learning rate %g: must be a positive number", s->lr);
    if (!(s->min_lr >= 0) || s->min_lr > s->lr)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "minimum learning rate %g: must be in [0, lr = %g]", s->min_lr,
                          s->lr);
    if (s->total_steps < 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "learning-rate schedule: %lld total steps (need at least 1)",
                          (long long)s->total_steps);
    if (s->warmup_steps < 0 || s->warmup_steps > s->total_steps)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "warmup of %lld steps: must be in [0, %lld total steps]",
                          (long long)s->warmup_steps, (long long)s->total_steps);
    return CLFT_OK;
}

double clft_lr_at(const clft_lr_schedule *s, int64_t step) {
    if (!schedule_ok(s)) return 0.0;
    if (step < 0) step = 0;
    if (step < s->warmup_steps) return s->lr * (double)step / (double)s->warmup_steps;
    if (s->type == CLFT_LR_CONSTANT) return s->lr;
    const int64_t span = s->total_steps - s->warmup_steps;
    double p = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (p > 1.0) p = 1.0;
    const double f = s->type == CLFT_LR_LINEAR ? 1.0 - p : 0.5 * (1.0 + cos(3.14159265358979323846 * p));
    return s->min_lr + (s->lr - s->min_lr) * f;
}
