"""bitsandbytes' CPU 4-bit path made exact, for the reference scripts (hf_reference.py, and
tests/interop/peft_fixtures.py / peft_roundtrip.py through it).

bitsandbytes 0.50.2 has two CPU shortcuts that change results on some CPUs:
  * its native CPU dequantize_4bit puts some elements in the wrong block when a row is not a whole
    number of blocks (rows of 32, 48 or 96 values with blocksize 64 dequantize wrongly; 88 and 100
    do not) - the reference then uses bitsandbytes' own generic implementation (its default backend),
    which dequantizes the same packed codes as code[nibble] * absmax[element // blocksize];
  * on CPUs with AVX512-BF16, Linear4bit.forward repacks the weight for a bf16 kernel (it also needs
    out_features % 32 == 0): switched off, so the forward is the generic dequantize + f32 matmul.
Whether the shortcuts run depends on the machine, so without this the fixtures depend on the CPU."""
import torch

_DONE = False


def use_generic_cpu_dequant():
    """Register bitsandbytes' generic dequantize_4bit as the CPU kernel (once per process)."""
    global _DONE
    if _DONE:
        return
    from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
    from bitsandbytes.backends.utils import _get_4bit_code

    def generic(A, absmax, blocksize, quant_type, shape, dtype):
        if A.dtype != torch.uint8:
            A = A.view(torch.uint8)
        return _dequantize_4bit_compute(A.reshape(-1), absmax, _get_4bit_code(quant_type, A.device), blocksize,
                                        shape, dtype)

    torch.library.register_kernel("bitsandbytes::dequantize_4bit", "cpu", generic)
    _DONE = True


def exact_cpu_4bit(model):
    """The generic dequantize kernel, and no AVX512-BF16 repacking in the model's Linear4bit layers."""
    import bitsandbytes as bnb
    use_generic_cpu_dequant()
    for mod in model.modules():
        if isinstance(mod, bnb.nn.Linear4bit):
            mod.support_avx512bf16_for_cpu = False
    return model
