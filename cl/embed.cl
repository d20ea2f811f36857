/* embed.cl - token embedding: f32 gradients, tables in f32 or (frozen) bf16 / f16.
 *   embedding_fwd_f32 (out (N,C), ids (N), table (V,C), N, V, C)   out[n] = table[ids[n]] (0 if out of range)
 *   embedding_fwd_bf16, embedding_fwd_f16: the same from a 16-bit table (ushort bits; vload_half needs
 *   no cl_khr_fp16), widened to f32 exactly
 *   embedding_bwd_f32 (d_table (V,C) +=, d_out (N,C), rows (U), offsets (U+1), tokens (N), U, C)
 * NDRange (C, N) and (C, U). The backward is deterministic without atomics: the host groups the token positions by id
 * (rows[u] = the id, tokens[offsets[u] .. offsets[u+1]) = its positions in order) and one work-item
 * per (unique id, column) sums them. Every buffer argument is followed by its offset in elements. */

/* out[n] = LOAD(table, e) for the id's row (0 if out of range); LOAD widens the storage to f32 */
#define EMBED_FWD_KERNEL(NAME, T, LOAD)                                                                                \
    __kernel void NAME(__global float *out, ulong out_off, __global const int *ids, ulong ids_off,                     \
                       __global const T *table, ulong t_off, int N, int V, int C) {                                    \
        const size_t c = get_global_id(0), n = get_global_id(1);                                                       \
        if (c >= (size_t)C || n >= (size_t)N) return;                                                                  \
        const int id = ids[ids_off + n];                                                                               \
        out[out_off + n * (size_t)C + c] =                                                                             \
            (id >= 0 && id < V) ? LOAD(table, t_off + (size_t)id * (size_t)C + c) : 0.0f;                              \
    }
#define EMBED_LOAD_F32(t, e)  ((t)[e])
#define EMBED_LOAD_BF16(t, e) clft_bf16_to_f32((t)[e])
#define EMBED_LOAD_F16(t, e)  vload_half(e, t)
EMBED_FWD_KERNEL(embedding_fwd_f32, float, EMBED_LOAD_F32)
EMBED_FWD_KERNEL(embedding_fwd_bf16, ushort, EMBED_LOAD_BF16)
EMBED_FWD_KERNEL(embedding_fwd_f16, half, EMBED_LOAD_F16)

__kernel void embedding_bwd_f32(__global float *d_table, ulong dt_off, __global const float *d_out, ulong dout_off,
                                __global const int *rows, ulong rows_off, __global const int *offsets, ulong offs_off,
                                __global const int *tokens, ulong tok_off, int U, int C) {
    const size_t c = get_global_id(0);
    const int u = (int)get_global_id(1);
    if (c >= (size_t)C || u >= U) return;
    float acc = 0.0f;
    for (int j = offsets[offs_off + u]; j < offsets[offs_off + u + 1]; j++)
        acc += d_out[dout_off + (size_t)tokens[tok_off + j] * (size_t)C + c];
    d_table[dt_off + (size_t)rows[rows_off + u] * (size_t)C + c] += acc;
}
