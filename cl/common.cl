/* common.cl - prepended to every clft program. Helpers shared by all kernel families.
 * Build macros set by the host (src/cl/program.c, clft_cl_build_options):
 *   CLFT_DEVICE_GPU/CPU/OTHER, CLFT_HAS_FP16, CLFT_HAS_FP64, CLFT_HAS_SUBGROUPS,
 *   CLFT_VENDOR_NVIDIA/AMD/INTEL, CLFT_POCL. Kernels use fp16 *storage* through vload_half /
 *   vstore_half (core OpenCL 1.2) and never need cl_khr_fp16 unless a variant says so. */
#ifndef CLFT_COMMON_CL
#define CLFT_COMMON_CL

/* bf16 storage: the high 16 bits of an IEEE float32; stores round to nearest even (NaN kept quiet). */
inline float clft_bf16_to_f32(ushort h) { return as_float(((uint)h) << 16); }
inline ushort clft_f32_to_bf16(float f) {
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}

#endif
