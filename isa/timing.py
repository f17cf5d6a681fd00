"""Timing classes: what an instruction costs is named here, and the cluster model prices each name.

The ISA table tags every instruction with one class; `simulator` (issue 3) maps classes to cycles
with the configured latencies. Keeping the class in the table and the price in the configuration
separates what an instruction does from what it costs.
"""

def is_vector_fp(entry) -> bool:
    """A smallFloat vector instruction (vf*: two 16-bit lanes in one FPU operation), which the energy
    model prices apart from a scalar FPU operation."""
    return entry.mnemonic.startswith("vf")


TIMING_CLASSES: dict[str, str] = {
    "alu": "single-cycle integer operation (incl. lui/auipc, Xpulp ALU and packed-SIMD integer ops)",
    "load": "memory load (integer or FP, any addressing mode)",
    "store": "memory store (integer or FP, any addressing mode)",
    "branch": "conditional branch (taken / not-taken cost differs)",
    "jal": "jal: unconditional pc-relative jump",
    "jalr": "jalr: register-indirect jump",
    "mul": "single-cycle multiply or multiply-accumulate (mul, p.mac, pv.dot*)",
    "mulh": "high-half multiply (mulh, mulhsu, mulhu)",
    "div": "iterative divide / remainder",
    "csr": "CSR access",
    "system": "ecall, ebreak, mret, wfi",
    "fence": "fence, fence.i",
    "hwloop": "hardware-loop set-up",
    "fadd": "FP add/subtract (FPU pipelined)",
    "fmul": "FP multiply (FPU pipelined)",
    "fma": "FP fused multiply-add, dot products (FPU pipelined)",
    "fconv": "FP conversions and packing (FPU pipelined)",
    "fnoncomp": "FP min/max, sign injection, compare, classify, moves",
    "fdiv32": "FP32 divide (iterative, blocking)",
    "fsqrt32": "FP32 square root (iterative, blocking)",
    "fdiv16": "FP16 divide, scalar or vector (iterative, blocking)",
    "fsqrt16": "FP16 square root, scalar or vector (iterative, blocking)",
}
