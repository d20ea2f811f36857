/* loss.cl - cross-entropy rows of the fused, chunked LM-head loss, and the argmax of logit rows, f32.
 *   xent_rows_f32   (logits (R,V) -> dlogits in place, targets (R) int, row_loss (R), V, dscale, grad)
 *   argmax_rows_f32 (out (R) int, logits (R,V), V)
 * One work-group per row for both. xent: lse = log sum exp(logits); row_loss = lse - logits[target];
 * when grad is nonzero the row becomes dscale * (softmax - onehot). Rows whose target is -100 get loss
 * 0 and a zero gradient. argmax: the first index of the row's largest value, NaN counting as larger
 * than any number (the first NaN wins, as torch.argmax); each work-item scans a strided slice, then a
 * tree reduction under that total order (value, then smaller index): deterministic.
 * Every buffer argument is followed by its offset in elements.
 * Tunables: LOSS_WG (work-group size, power of two, default 64). */
#ifndef LOSS_WG
#define LOSS_WG 64
#endif

__kernel __attribute__((reqd_work_group_size(LOSS_WG, 1, 1)))
void xent_rows_f32(__global float *logits, ulong lg_off, __global const int *targets, ulong t_off,
                   __global float *row_loss, ulong rl_off, int V, float dscale, int grad) {
    __local float scratch[LOSS_WG];
    const size_t row = get_group_id(0);
    const int l = (int)get_local_id(0);
    __global float *x = logits + lg_off + row * (size_t)V;
    const int target = targets[t_off + row];
    float mx = -INFINITY;
    for (int j = l; j < V; j += LOSS_WG) mx = fmax(mx, x[j]);
    scratch[l] = mx;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LOSS_WG / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] = fmax(scratch[l], scratch[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    mx = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    float se = 0.0f;
    for (int j = l; j < V; j += LOSS_WG) se += exp(x[j] - mx);
    scratch[l] = se;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LOSS_WG / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] += scratch[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float lse = mx + log(scratch[0]);
    const int valid = target >= 0 && target < V;
    if (l == 0) row_loss[rl_off + row] = valid ? lse - x[target] : 0.0f;
    barrier(CLK_GLOBAL_MEM_FENCE); /* x[target] is read above before anyone overwrites it */
    if (grad) {
        for (int j = l; j < V; j += LOSS_WG)
            x[j] = valid ? dscale * (exp(x[j] - lse) - (j == target ? 1.0f : 0.0f)) : 0.0f;
    }
}

/* (va, ia) comes before (vb, ib): NaN above every number, then the larger value, then the smaller index */
inline int argmax_before(float va, int ia, float vb, int ib) {
    const int na = isnan(va), nb = isnan(vb);
    if (na != nb) return na;
    if (!na && va != vb) return va > vb;
    return ia < ib;
}

__kernel __attribute__((reqd_work_group_size(LOSS_WG, 1, 1)))
void argmax_rows_f32(__global int *out, ulong out_off, __global const float *logits, ulong lg_off, int V) {
    __local float sv[LOSS_WG];
    __local int si[LOSS_WG];
    const size_t row = get_group_id(0);
    const int l = (int)get_local_id(0);
    __global const float *x = logits + lg_off + row * (size_t)V;
    float bv = -INFINITY;
    int bi = INT_MAX; /* loses to any element, -inf included */
    for (int j = l; j < V; j += LOSS_WG) {
        const float v = x[j];
        if (argmax_before(v, j, bv, bi)) bv = v, bi = j;
    }
    sv[l] = bv;
    si[l] = bi;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LOSS_WG / 2; s > 0; s >>= 1) {
        if (l < s && argmax_before(sv[l + s], si[l + s], sv[l], si[l])) {
            sv[l] = sv[l + s];
            si[l] = si[l + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) out[out_off + row] = si[0];
}
