"""Random multi-core programs for the engine differential test (tests/test_engine_equivalence.py).

Every core runs the same random code (SPMD) on its own slice of the TCDM, or on a shared slice to
make bank conflicts: integer, FP32, FP16 and FP16-SIMD instructions drawn from the instruction table
itself (so new instructions are covered automatically), post-increment loads and stores, hardware
loops, branches, register-indirect jumps, barriers and DMA transfers. At the end each core dumps its registers to the TCDM.
`isa` picks the custom-extension set the instructions come from (xpulpv2: p.*/pv.*/lp.*; corev: cv.*).

    python tools/gen_cluster_program.py --seed 3 --blocks 20 [--isa corev] > prog.s
"""
from __future__ import annotations

import argparse
import random

from mcusim.isa.codec import rows
from mcusim.isa.disasm import format_operand
from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import CUSTOM_ISAS, DEFAULT_ISA, Instr
from mcusim.isa.ext.xfvec import ALWAYS_ILLEGAL
from mcusim.simulator.cengine.opgen import SPECIALISED_ISSUE

# Registers the random code must not write: x0 is fine (writes dropped); these hold pointers.
RESERVED = {2, 8, 9, 31, 30}            # sp, s0 (own slice), s1 (shared), t6 (walking ptr), t5 (= 4, its step)
DEST_REGS = [r for r in range(32) if r not in RESERVED]
SLICE = 1024                             # bytes of TCDM per core
TCDM = 0x1000_0000
SHARED = TCDM + 9 * SLICE                # a slice all cores use (bank conflicts)
DUMP = TCDM + 12 * SLICE                 # per-core register dumps
SAFE_CLASSES = {"alu", "mul", "mulh", "div", "fadd", "fmul", "fma", "fconv", "fnoncomp", "fdiv32",
                "fsqrt32", "fdiv16", "fsqrt16"}
SPECIAL_F = [0x3F800000, 0xBF800000, 0x0, 0x80000000, 0x7F800000, 0x7FC00000, 0x00000001,
             0x3C003C00, 0xFFFF3C00, 0xFFFF7BFF, 0x7BFF3555, 0x40490FDB, 0xC2AA0000]


def _compute_entries(isa: str) -> list[Instr]:
    out = []
    for e in rows(isa):
        if e.timing not in SAFE_CLASSES or e.mnemonic in ALWAYS_ILLEGAL:
            continue
        if any(FIELDS[n].kind in (Kind.PCREL, Kind.CSR, Kind.LOOP) for n in e.operands):
            continue
        out.append(e)
    return out


COMPUTE_BY_ISA = {isa: _compute_entries(isa) for isa in CUSTOM_ISAS}
COMPUTE = COMPUTE_BY_ISA[DEFAULT_ISA]
# The ops with their own C issue function (the hot ones of real kernels): half of the compute draws,
# so that every one appears in the test's programs however large the table grows. A CORE-V row
# counts when its twin has one (it runs the twin's op).
HOT_BY_ISA = {isa: [e for e in entries if (e.twin or e).key in SPECIALISED_ISSUE]
              for isa, entries in COMPUTE_BY_ISA.items()}
HOT_COMPUTE = HOT_BY_ISA[DEFAULT_ISA]


def _operand_text(rng: random.Random, entry: Instr) -> str:
    values = {}
    for name in entry.operands:
        f = FIELDS[name]
        if f.kind is Kind.XREG:
            values[name] = rng.choice(DEST_REGS) if name == "rd" else rng.randrange(32)
        elif f.kind is Kind.FREG:
            values[name] = rng.randrange(32)
        elif f.kind is Kind.RM:
            values[name] = rng.choice([0, 1, 2, 3, 4, 7])
        else:
            low, high = f.value_range
            step = 1 << f.implicit_zero_bits
            values[name] = rng.randrange(low // step, high // step + 1) * step
    parts = []
    for token in entry.template:
        parts.append(format_operand(token, values[token], 0) if token in values else token)
    return f"{entry.mnemonic} {''.join(parts).replace(',', ', ')}"


def _memory_op(rng: random.Random, isa: str = DEFAULT_ISA) -> str:
    reg = rng.choice(DEST_REGS)
    freg = rng.randrange(32)
    off = rng.randrange(0, SLICE - 8, 4)
    base = rng.choice(["s0", "s0", "s1"])
    return rng.choice([
        f"lw {format_operand('rd', reg, 0)}, {off}({base})",
        f"sw {format_operand('rd', reg, 0)}, {off}({base})",
        f"lh {format_operand('rd', reg, 0)}, {off + rng.choice([0, 2])}({base})",
        f"sb {format_operand('rd', reg, 0)}, {off + rng.randrange(4)}({base})",
        f"flw {format_operand('fd', freg, 0)}, {off}({base})",
        f"fsw {format_operand('fd', freg, 0)}, {off}({base})",
        f"flh {format_operand('fd', freg, 0)}, {off}({base})",
        f"fsh {format_operand('fd', freg, 0)}, {off + 2}({base})",
        f"p.lw {format_operand('rd', reg, 0)}, 4(t6!)",
        f"p.sw {format_operand('rd', reg, 0)}, 4(t6!)",
        f"p.lhu {format_operand('rd', reg, 0)}, 4(t6!)",
        f"lbu {format_operand('rd', reg, 0)}, {off + rng.randrange(4)}({base})",
        f"lhu {format_operand('rd', reg, 0)}, {off + rng.choice([0, 2])}({base})",
        f"sh {format_operand('rd', reg, 0)}, {off + rng.choice([0, 2])}({base})",
        f"p.lh {format_operand('rd', reg, 0)}, 4(t6!)",
        f"p.sh {format_operand('rd', reg, 0)}, 4(t6!)",
        f"p.lbu {format_operand('rd', reg, 0)}, 4(t6!)",
        f"p.sb {format_operand('rd', reg, 0)}, 4(t6!)",
        f"lb {format_operand('rd', reg, 0)}, {off + rng.randrange(4)}({base})",
    ] + ([                                    # register post-increment (Xpulpv2 spelling only)
        f"p.lw {format_operand('rd', reg, 0)}, t5(t6!)",
        f"p.sw {format_operand('rd', reg, 0)}, t5(t6!)",
        f"p.lh {format_operand('rd', reg, 0)}, t5(t6!)",
        f"p.lhu {format_operand('rd', reg, 0)}, t5(t6!)",
    ] if isa == "xpulpv2" else []))


def _block(rng: random.Random, label: int, isa: str = DEFAULT_ISA) -> list[str]:
    lines = ["    mv t6, s0"]
    kind = rng.random()
    body = []
    compute = COMPUTE_BY_ISA[isa]
    for _ in range(rng.randint(6, 14)):
        r = rng.random()
        if r < 0.65:
            body.append(_operand_text(rng, rng.choice(HOT_BY_ISA[isa] if r < 0.33 else compute)))
        else:
            body.append(_memory_op(rng, isa))
    if kind < 0.25:
        # a hardware loop over the first instructions (no memory walking past the slice)
        n = rng.randint(2, 5)
        loop_body = [b for b in body if "(t6!)" not in b][:4]
        while len(loop_body) < 3:
            loop_body.append("addi t4, t4, 1")
        # Xpulpv2 names the body's last instruction, CORE-V the one after it (a label of its own)
        loop, end = ("lp", "x") if isa == "xpulpv2" else ("cv", "")
        if rng.random() < 0.5:
            lines.append(f"    {loop}.setupi {end}{rng.randint(0, 1)}, {n}, {label}f")
        else:                                   # the count from a register
            lines += [f"    li t4, {n}", f"    {loop}.setup {end}{rng.randint(0, 1)}, t4, {label}f"]
        if isa == "xpulpv2":
            lines += [f"    {b}" for b in loop_body[:-1]]
            lines.append(f"{label}:  {loop_body[-1]}")
        else:
            lines += [f"    {b}" for b in loop_body]
            lines.append(f"{label}:")
    elif kind < 0.38:
        lines.append(f"    {rng.choice(['beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu'])} {rng.choice(['a0', 'a1', 't0'])}, "
                     f"{rng.choice(['a2', 'zero', 't1'])}, {label}f")
        lines += [f"    {b}" for b in body]
        lines.append(f"{label}:  nop")
    elif kind < 0.45:
        # a register-indirect jump over the body
        lines.append(f"    la t4, {label}f")
        lines.append("    jalr zero, 0(t4)")
        lines += [f"    {b}" for b in body]
        lines.append(f"{label}:  nop")
    else:
        lines += [f"    {b}" for b in body]
    if rng.random() < 0.15:
        lines.append("    barrier")
    if rng.random() < 0.08:
        lines += ["    la a6, l2buf", "    mv a7, s0", "    li a5, 256", "    dma_copy a7, a6, a5"]
        if rng.random() < 0.7:
            lines.append("    dma_wait")
    return lines


def generate(seed: int, blocks: int = 20, isa: str = DEFAULT_ISA) -> str:
    rng = random.Random(seed)
    out = ["    .text", "    .globl _start", "_start:",
           "    core_id t0",
           f"    li s0, {TCDM:#x}",
           f"    li t1, {SLICE}",
           "    mul t1, t1, t0",
           "    add s0, s0, t1",
           f"    li s1, {SHARED:#x}",
           "    li t5, 4"]
    for r in DEST_REGS:
        if r in (5, 6):
            continue
        out.append(f"    li {format_operand('rd', r, 0)}, {rng.getrandbits(32) if rng.random() < 0.7 else rng.randrange(-8, 8)}")
    for r in range(32):
        out.append(f"    li t2, {rng.choice(SPECIAL_F) if rng.random() < 0.5 else rng.getrandbits(32):#x}")
        out.append(f"    fmv.w.x {format_operand('fd', r, 0)}, t2")
    out.append(f"    li t2, {rng.randrange(5)}")
    out.append("    csrw frm, t2")
    for b in range(blocks):
        out += _block(rng, 1 + b % 9, isa)
    # dump registers: x1..x31 and f0..f31 at DUMP + id * 256
    out += ["    core_id t0", "    slli t0, t0, 8", f"    li t1, {DUMP:#x}", "    add t6, t1, t0"]
    out += [f"    sw {format_operand('rd', r, 0)}, {4 * r}(t6)" for r in range(1, 31)]
    out += [f"    fsw {format_operand('fd', r, 0)}, {128 + 4 * r}(t6)" for r in range(32)]
    out += ["    csrr t0, fflags", "    sw t0, 0(t6)", "    barrier", "    li a0, 0", "    li a7, 93", "    ecall",
            "    .data", "l2buf:"]
    out += [f"    .word {rng.getrandbits(32):#x}" for _ in range(64)]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--isa", choices=tuple(CUSTOM_ISAS), default=DEFAULT_ISA)
    args = parser.parse_args()
    print(generate(args.seed, args.blocks, args.isa), end="")


if __name__ == "__main__":
    main()
