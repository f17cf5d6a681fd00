"""The floating-point data types of the kernel library and the training step, as one table.

| dtype | format | bytes | op suffix | numpy holds it as |
|---|---|---|---|---|
| fp32 | binary32 | 4 | `.s` | float32 |
| fp16 | binary16 (IEEE half, Zfh / Xfvec) | 2 | `.h` | float16 |
| bf16 | bfloat16 (smallFloat Xf16alt / Xfvecalt: 8 exponent, 7 fraction bits) | 2 | `.ah` | float32 whose values are bfloat16 |

numpy has no bfloat16, so a bf16 array is a float32 array whose every value is a bfloat16 (the low 16
bits of each float32 are zero); `round` makes one from any values (round to nearest even, once,
from float64: no double rounding through float32), `to_bits` / `from_bits` convert to and from the
16-bit memory words. The 16-bit formats ("half" dtypes) share the kernels' code: a generator writes
`f"vfmac.r.{dt.suffix}"` and gets `vfmac.r.h` or `vfmac.r.ah`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcusim.isa import ieee754
from mcusim.kernels_asm.dtype_names import FLOAT_DTYPES, HALF_DTYPES

__all__ = ["DTYPES", "DType", "FLOAT_DTYPES", "HALF_DTYPES", "MEMORY_DTYPES", "dtype_of", "is_half"]


def _round_bf16(x: np.ndarray) -> np.ndarray:
    """float64 values rounded to bfloat16 (nearest, ties to even; overflow to infinity; subnormals
    kept), as float64. Exact: frexp and the power-of-two scalings are exact in float64, np.rint rounds
    ties to even."""
    x = np.asarray(x, np.float64)
    finite = np.isfinite(x) & (x != 0)
    _, e = np.frexp(np.where(finite, x, 1.0))          # x = m * 2**e, 0.5 <= |m| < 1
    quantum_exp = np.maximum(e - 8, -133)              # 8 significant bits; subnormal quantum 2**-133
    r = np.ldexp(np.rint(np.ldexp(np.where(finite, x, 0.0), -quantum_exp)), quantum_exp)
    r = np.where(np.abs(r) >= 2.0 ** 128, np.copysign(np.inf, x), r)
    return np.where(finite, r, x)


@dataclass(frozen=True)
class DType:
    name: str
    fmt: ieee754.Format
    suffix: str              # mnemonic suffix of its arithmetic: fadd.<s|h|ah>, vfmac.r.<h|ah>
    np_type: type            # the numpy type its values live in

    @property
    def bytes(self) -> int:
        return self.fmt.width // 8

    @property
    def half(self) -> bool:
        """A 16-bit format: two lanes per f register, flh/fsh, the SIMD kernels."""
        return self.bytes == 2

    def round64(self, x) -> np.ndarray:
        """`x` rounded to this format (nearest even, one rounding from float64), as float64."""
        if self.name == "bf16":
            return _round_bf16(x)
        return np.asarray(x, np.float64).astype(self.np_type).astype(np.float64)

    def round(self, x) -> np.ndarray:
        """`x` rounded to this format, as an array of `np_type`."""
        if self.name == "bf16":
            return _round_bf16(x).astype(np.float32)
        return np.asarray(x).astype(self.np_type)

    def to_bits(self, x) -> np.ndarray:
        """The memory words of `x` (rounded first when it is not already of this format)."""
        if self.name == "bf16":
            return (self.round(x).view(np.uint32) >> 16).astype(np.uint16)
        return self.round(x).view(np.uint16 if self.bytes == 2 else np.uint32)

    def from_bits(self, bits) -> np.ndarray:
        bits = np.asarray(bits)
        if self.name == "bf16":
            return (bits.astype(np.uint32) << 16).view(np.float32)
        return bits.astype(np.uint16 if self.bytes == 2 else np.uint32).view(self.np_type)

    def ulp(self, x) -> np.ndarray:
        """The spacing of this format at |x| (the subnormal spacing below the normal range)."""
        f = self.fmt
        emin = 2 - (1 << (f.exp_bits - 1))
        e = np.floor(np.log2(np.maximum(np.abs(np.asarray(x, np.float64)), 2.0 ** emin)))
        return 2.0 ** (e - f.frac_bits)


DTYPES: dict[str, DType] = {
    "fp32": DType("fp32", ieee754.F32, "s", np.float32),
    "fp16": DType("fp16", ieee754.F16, "h", np.float16),
    "bf16": DType("bf16", ieee754.BF16, "ah", np.float32),
}

# How a tensor's elements are stored in the simulated memory, as numpy reads and writes them there
# (the kernel harness's tensors and the step program's L2): bf16 as its 16-bit words.
MEMORY_DTYPES: dict[str, np.dtype] = {
    "fp32": np.dtype("<f4"), "fp16": np.dtype("<f2"), "bf16": np.dtype("<u2"), "int32": np.dtype("<i4"),
    "int16": np.dtype("<i2"), "int8": np.dtype("i1"),
}


def dtype_of(name: str) -> DType:
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r} (known: {', '.join(DTYPES)})") from None


def is_half(name: str) -> bool:
    """fp16 or bf16: the 16-bit formats that share the SIMD kernels."""
    return name in HALF_DTYPES
