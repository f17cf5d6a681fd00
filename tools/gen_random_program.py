"""Random RV32IMF + Zfh test programs for differential testing (mcusim against qemu-riscv32).

A program initialises x1..x29 and f0..f31 with values rich in special cases, then runs blocks of
random instructions. Each block clears fflags, sets frm, runs its instructions and dumps the state
(x1..x29, f0..f31, fcsr) to a buffer; at the end one Linux `write(1, buffer, length)` prints every
dump and `exit(0)` ends the program. Dump 0 is the initial state, dump k the state after block k.

Reserved registers: x30 is the base of a 256-byte scratch area (random loads and stores use aligned
offsets from it) followed by read-only constants, x31 the dump pointer; random instructions never
write either. Other registers, x0 included, are random destinations. f0..f15 mostly hold
FP32 values and f16..f31 mostly NaN-boxed FP16 values, so that most operations see operands of
their own format, while a minority mixes formats (an FP16 operation reading an unboxed value sees
the canonical NaN; an FP32 operation reading a boxed half sees a quiet NaN).

With `--rvc` the program is compressed code (`.option rvc`: GNU as writes every instruction that has
a 16-bit form as it, so 32-bit instructions also start at pc % 4 == 2), and its blocks also draw
explicit `c.` instructions, every RV32C form but c.ebreak: sp (x2) and x8..x15 are pointed at the
scratch area right before a compressed load or store uses them as its base, and c.jr / c.jalr jump
over one instruction to a label loaded with `la`.

The output, deterministic for a seed, is GNU assembler source for
`riscv64-unknown-elf-as -march=rv32imf_zicsr_zifencei_zfh -mabi=ilp32` (add `c` to -march for --rvc;
tests/test_qemu_differential.py shows how to link and run it).
Usage: `python tools/gen_random_program.py --seed N --blocks B [--rvc]`.
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field

SCRATCH_BYTES = 256
# Read-only constants right after the scratch area (x30 + 256 ... x30 + 2047, in reach of a 12-bit
# offset): one load gives a register a fresh value. FP results are NaN whenever an operand is, so
# without a steady supply of fresh operands most registers would soon hold NaNs.
POOL_F32_WORDS = 224
POOL_F16_WORDS = 224
DUMP_REGS: tuple[str, ...] = tuple([f"x{i}" for i in range(1, 30)] + [f"f{i}" for i in range(32)]
                                   + ["fcsr"])
DUMP_BYTES = 4 * len(DUMP_REGS)
DEFAULT_BLOCK_SIZE = (10, 20)

ROUNDING = ("rne", "rtz", "rdn", "rup", "rmm", "dyn")
FP_CSRS = ("fflags", "frm", "fcsr")

# Machine instructions (after pseudo-instruction expansion) the generator emits; the differential
# test checks that a run executes every one of them.
RV32I = ("lui auipc jal jalr beq bne blt bge bltu bgeu lb lh lw lbu lhu sb sh sw addi slti sltiu "
         "xori ori andi slli srli srai add sub sll slt sltu xor srl sra or and fence fence.i "
         "ecall").split()
RV32M = "mul mulh mulhsu mulhu div divu rem remu".split()
ZICSR = "csrrw csrrs csrrc csrrwi csrrsi csrrci".split()
_FP_COMMON = ("fadd fsub fmul fdiv fsqrt fmin fmax fsgnj fsgnjn fsgnjx fmadd fmsub fnmadd fnmsub "
              "feq flt fle fclass fcvt.w fcvt.wu").split()
RV32F = [f"{m}.s" for m in _FP_COMMON] + "fcvt.s.w fcvt.s.wu fmv.x.w fmv.w.x flw fsw".split()
ZFH = ([f"{m}.h" for m in _FP_COMMON]
       + "fcvt.h.w fcvt.h.wu fmv.x.h fmv.h.x flh fsh fcvt.s.h fcvt.h.s".split())
MNEMONICS: tuple[str, ...] = tuple(RV32I + RV32M + ZICSR + RV32F + ZFH)
# The compressed forms --rvc programs draw explicitly (all of RV32C but c.ebreak, which traps).
RV32C = ("c.addi4spn c.lw c.flw c.sw c.fsw c.nop c.addi c.jal c.li c.addi16sp c.lui c.srli c.srai c.andi "
         "c.sub c.xor c.or c.and c.j c.beqz c.bnez c.slli c.lwsp c.flwsp c.jr c.mv c.jalr c.add c.swsp "
         "c.fswsp").split()

# --- value pools: special cases first, random ones drawn alongside ----------------------------------
INT_SPECIAL = (0, 1, 2, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001,
               0xFFFF, 0x8000, 0xFF, 0x80, 0x7FF, 0xFFFF_F800, 0x5555_5555, 0xAAAA_AAAA)

F32_SPECIAL = (
    0x0000_0000, 0x8000_0000,                          # +-0
    0x7F80_0000, 0xFF80_0000,                          # +-inf
    0x7FC0_0000, 0xFFC0_0000, 0x7FC0_0001, 0x7FFF_FFFF,  # quiet NaNs
    0x7F80_0001, 0x7FA0_0000, 0xFF80_0001, 0x7FBF_FFFF,  # signaling NaNs
    0x0000_0001, 0x8000_0001, 0x007F_FFFF, 0x807F_FFFF,  # min / max subnormals
    0x0080_0000, 0x8080_0000, 0x0080_0001, 0x7F7F_FFFF, 0xFF7F_FFFF,  # min / max normals
    0x7F00_0000, 0x7EFF_FFFF, 0x7F7F_FFFE, 0xFF00_0000,  # near overflow
    0x3F80_0000, 0xBF80_0000, 0x3F7F_FFFF, 0x3F80_0001, 0x4000_0000, 0x3F00_0000,
    0x3FC0_0000, 0xBFC0_0000, 0x4020_0000, 0xC020_0000, 0x3F40_0000,  # ties for conversions
    0x4F00_0000, 0xCF00_0000, 0x4EFF_FFFF, 0xCF00_0001, 0x4F80_0000, 0x4F7F_FFFF,  # int limits
    0xBF7F_FFFF, 0xBE80_0000,                          # small negatives (fcvt.wu)
    0x3380_0000, 0x3300_0000, 0x3300_0001, 0x387F_C000, 0x3880_0000,  # FP16 subnormal/normal edges
    0x477F_E000, 0x477F_EFFF, 0x477F_F000, 0x4780_0000, 0xC77F_F000,  # FP16 overflow edges
)
F16_SPECIAL = (
    0x0000, 0x8000, 0x7C00, 0xFC00,                    # +-0, +-inf
    0x7E00, 0xFE00, 0x7E01, 0x7FFF,                    # quiet NaNs
    0x7C01, 0x7D00, 0xFC01, 0x7DFF,                    # signaling NaNs
    0x0001, 0x8001, 0x03FF, 0x83FF,                    # min / max subnormals
    0x0400, 0x8400, 0x0401, 0x7BFF, 0xFBFF,            # min / max normals
    0x7BFE, 0x7B00, 0x7A00,                            # near overflow
    0x3C00, 0xBC00, 0x3BFF, 0x3C01, 0x4000, 0x3800,
    0x3E00, 0xBE00, 0x4100, 0xC100, 0x3A00, 0xB800, 0xBBFF,
    0x7800, 0xF800, 0x6800,                            # 2^15, -2^15, 2^11 (integer conversions)
)


def _short_float(rng: random.Random, exp_bits: int, frac_bits: int) -> int:
    """A value with few significand bits and an exponent near 1.0: sums, products and FMAs of
    such values are often exact or exact ties, which exercises rounding and signed zeros."""
    bias = (1 << (exp_bits - 1)) - 1
    exp = bias + rng.randint(-6, 6)
    frac = 0
    for _ in range(rng.randint(0, 3)):
        frac |= 1 << rng.randrange(frac_bits - 6, frac_bits)
    if rng.random() < 0.2:
        frac |= 1   # a bit at the bottom makes rounding of products inexact
    return (rng.getrandbits(1) << (exp_bits + frac_bits)) | (exp << frac_bits) | frac


def f32_value(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.45:
        return rng.choice(F32_SPECIAL)
    if r < 0.7:
        return _short_float(rng, 8, 23)
    if r < 0.85:   # random significand, moderate exponent
        return (rng.getrandbits(1) << 31) | ((127 + rng.randint(-30, 30)) << 23) | rng.getrandbits(23)
    if r < 0.9:    # subnormal
        return (rng.getrandbits(1) << 31) | rng.getrandbits(rng.randint(1, 23))
    return rng.getrandbits(32)


def f16_value(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.45:
        return rng.choice(F16_SPECIAL)
    if r < 0.7:
        return _short_float(rng, 5, 10)
    if r < 0.9:
        return rng.getrandbits(16)
    return (rng.getrandbits(1) << 15) | rng.getrandbits(rng.randint(1, 10))   # subnormal


def half_register_value(rng: random.Random) -> int:
    """An f-register pattern meant as FP16: NaN-boxed most of the time."""
    if rng.random() < 0.85:
        return 0xFFFF_0000 | f16_value(rng)
    return rng.choice((f32_value(rng), f16_value(rng), 0xFFFE_0000 | f16_value(rng)))


def int_value(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.35:
        return rng.choice(INT_SPECIAL)
    if r < 0.55:
        return rng.randint(-16, 16) & 0xFFFF_FFFF
    if r < 0.65:
        return 1 << rng.randrange(32)
    if r < 0.75:   # FP patterns make fmv.w.x / fmv.h.x interesting
        return f32_value(rng) if rng.random() < 0.5 else half_register_value(rng) & 0xFFFF
    return rng.getrandbits(32)


def imm12(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.3:
        return rng.choice((0, 1, -1, 2047, -2048, 0x555, -0x555))
    if r < 0.6:
        return rng.randint(-16, 16)
    return rng.randint(-2048, 2047)


@dataclass
class Program:
    """Generated source plus, per dump, the lines of the block that produced it (dump 0: init)."""
    seed: int
    source: str
    blocks: list[list[str]] = field(default_factory=list)
    random_instructions: int = 0   # source lines of the blocks' random parts

    @property
    def dump_bytes(self) -> int:
        return len(self.blocks) * DUMP_BYTES


class _Generator:
    def __init__(self, seed: int, block_size: tuple[int, int], rvc: bool = False) -> None:
        self.rng = random.Random(seed)
        self.block_size = block_size
        self.rvc = rvc
        self.lines: list[str] = []
        self.labels = 0
        kinds = [
            (self.int_alu, 12), (self.int_imm, 8), (self.upper, 2), (self.mul_div, 8),
            (self.int_mem, 5), (self.branch, 4), (self.jump, 1), (self.csr, 3), (self.fence, 0.3),
            (self.reseed_x, 3), (self.reseed_f, 24),
            (lambda: self.fp("s"), 35), (lambda: self.fp("h"), 35), (self.fp_convert_sh, 4),
        ]
        if rvc:
            kinds.append((self.compressed, 12))
        self.kinds = [k for k, _ in kinds]
        self.weights = [w for _, w in kinds]

    # --- operands ----------------------------------------------------------------------------------
    def xs(self) -> str:
        return f"x{self.rng.randrange(32)}"

    def xd(self) -> str:
        # x0 now and then: writes to it must be dropped.
        return "x0" if self.rng.random() < 0.02 else f"x{self.rng.randint(1, 29)}"

    def fs(self, fmt: str) -> str:
        return self._freg(fmt, 0.05)

    def fd(self, fmt: str) -> str:
        return self._freg(fmt, 0.03)

    def _freg(self, fmt: str, any_prob: float) -> str:
        if self.rng.random() < any_prob:
            return f"f{self.rng.randrange(32)}"
        return f"f{self.rng.randrange(16) + (16 if fmt == 'h' else 0)}"

    def rm(self) -> str:
        r = self.rng.randrange(8)
        return "" if r >= 6 else f", {ROUNDING[r]}"   # omitted means dyn too

    def emit(self, mnemonic: str, operands: str = "") -> None:
        self.lines.append(f"    {mnemonic} {operands}".rstrip())

    def label(self) -> str:
        self.labels += 1
        return f".Lskip{self.labels}"

    def li(self, reg: str, value: int) -> None:
        value &= 0xFFFF_FFFF
        self.emit("li", f"{reg}, {value - (1 << 32) if value >> 31 else value}")

    # --- instruction kinds -------------------------------------------------------------------------
    def int_alu(self) -> None:
        op = self.rng.choice("add sub sll slt sltu xor srl sra or and".split())
        self.emit(op, f"{self.xd()}, {self.xs()}, {self.xs()}")

    def int_imm(self) -> None:
        op = self.rng.choice("addi slti sltiu xori ori andi slli srli srai".split())
        if op in ("slli", "srli", "srai"):
            imm = self.rng.choice((0, 1, 31, self.rng.randrange(32)))
        else:
            imm = imm12(self.rng)
        self.emit(op, f"{self.xd()}, {self.xs()}, {imm}")

    def upper(self) -> None:
        op = self.rng.choice(("lui", "auipc"))
        imm = self.rng.choice((0, 1, 0x80000, 0xFFFFF, self.rng.getrandbits(20)))
        self.emit(op, f"{self.xd()}, {imm:#x}")

    def mul_div(self) -> None:
        op = self.rng.choice(RV32M)
        rd, a, b = self.xd(), f"x{self.rng.randint(1, 29)}", f"x{self.rng.randint(1, 29)}"
        r = self.rng.random()
        if op in ("div", "divu", "rem", "remu") and r < 0.4:
            if r < 0.15:
                self.li(b, 0)                          # division by zero
            else:
                self.li(b, -1)
                if r < 0.3:
                    self.li(a, -(1 << 31))             # signed overflow
        elif op.startswith("mulh") and r < 0.2:
            self.li(a, self.rng.choice((-1, -(1 << 31), 0x7FFF_FFFF)))
        self.emit(op, f"{rd}, {a}, {b}")

    def int_mem(self) -> None:
        op = self.rng.choice("lb lh lw lbu lhu sb sh sw".split())
        size = {"b": 1, "h": 2, "w": 4}[op[1]]
        offset = self.rng.randrange(0, SCRATCH_BYTES, size)
        reg = self.xs() if op[0] == "s" else self.xd()
        self.emit(op, f"{reg}, {offset}(x30)")

    def skippable(self) -> None:
        """One random single-word instruction (something a branch or jump can skip)."""
        self.rng.choice((self.int_alu, self.int_imm, self.int_mem,
                         lambda: self.fp_simple("s"), lambda: self.fp_simple("h")))()

    def branch(self) -> None:
        op = self.rng.choice("beq bne blt bge bltu bgeu".split())
        a = self.xs()
        b = a if self.rng.random() < 0.15 else self.xs()
        target = self.label()
        self.emit(op, f"{a}, {b}, {target}")
        for _ in range(self.rng.randint(1, 2)):
            self.skippable()
        self.lines.append(f"{target}:")

    def jump(self) -> None:
        if self.rng.random() < 0.5:
            target = self.label()
            self.emit("jal", f"{self.xd()}, {target}")
            self.skippable()
            self.lines.append(f"{target}:")
        else:
            # auipc base; jalr over the next instruction (skippable emits exactly one word).
            base = f"x{self.rng.randint(1, 29)}"
            if self.rvc:                          # the 12 bytes need 32-bit instructions
                self.lines.append("    .option push\n    .option norvc")
            self.emit("auipc", f"{base}, 0")
            self.emit("jalr", f"{self.xd()}, 12({base})")
            self.skippable()
            if self.rvc:
                self.lines.append("    .option pop")

    def compressed(self) -> None:
        """One explicit RV32C instruction (with its setup: a base register, a jump target)."""
        rng = self.rng
        op = rng.choice(RV32C)
        prime = lambda: f"x{rng.randint(8, 15)}"            # noqa: E731
        fprime = lambda: f"f{rng.randint(8, 15)}"           # noqa: E731
        nonzero = lambda lo, hi: rng.choice([v for v in range(lo, hi + 1) if v])   # noqa: E731
        if op in ("c.lw", "c.sw", "c.flw", "c.fsw"):
            base = prime()
            self.emit("mv", f"{base}, x30")
            reg = fprime() if op[2] == "f" else prime()
            self.emit(op, f"{reg}, {4 * rng.randrange(32)}({base})")
        elif op in ("c.lwsp", "c.swsp", "c.flwsp", "c.fswsp"):
            self.emit("mv", "x2, x30")
            reg = (f"f{rng.randrange(32)}" if op[2] == "f"
                   else f"x{rng.randint(1, 29)}" if op == "c.lwsp" else self.xs())
            self.emit(op, f"{reg}, {4 * rng.randrange(SCRATCH_BYTES // 4)}(sp)")
        elif op == "c.addi4spn":
            self.emit(op, f"{prime()}, sp, {4 * rng.randint(1, 255)}")
        elif op == "c.nop":
            self.emit(op)
        elif op in ("c.addi", "c.li"):
            self.emit(op, f"x{rng.randint(1, 29)}, {nonzero(-32, 31) if op == 'c.addi' else rng.randint(-32, 31)}")
        elif op == "c.addi16sp":
            self.emit(op, f"sp, {16 * nonzero(-32, 31)}")
        elif op == "c.lui":
            rd = rng.choice([r for r in range(1, 30) if r != 2])
            self.emit(op, f"x{rd}, {rng.choice((1, 31, 0xFFFE0, 0xFFFFF, rng.randint(1, 31)))}")
        elif op in ("c.srli", "c.srai", "c.slli"):
            rd = prime() if op != "c.slli" else f"x{rng.randint(1, 29)}"
            self.emit(op, f"{rd}, {rng.randint(1, 31)}")
        elif op == "c.andi":
            self.emit(op, f"{prime()}, {rng.randint(-32, 31)}")
        elif op in ("c.sub", "c.xor", "c.or", "c.and"):
            self.emit(op, f"{prime()}, {prime()}")
        elif op in ("c.mv", "c.add"):
            self.emit(op, f"x{rng.randint(1, 29)}, x{rng.randint(1, 31)}")
        elif op in ("c.j", "c.jal", "c.beqz", "c.bnez"):
            target = self.label()
            self.emit(op, f"{prime()}, {target}" if op in ("c.beqz", "c.bnez") else target)
            self.skippable()
            self.lines.append(f"{target}:")
        else:   # c.jr / c.jalr over one instruction
            target, base = self.label(), f"x{rng.randint(3, 29)}"
            self.emit("la", f"{base}, {target}")
            self.emit(op, base)
            self.skippable()
            self.lines.append(f"{target}:")

    def csr(self) -> None:
        # Never set frm bits (a value above 4 would make dyn-rounding instructions illegal);
        # clearing bits of a valid mode always leaves a valid one.
        rng = self.rng
        choice = rng.randrange(6)
        rd = self.xd()
        if choice == 0:
            self.emit("csrrs", f"{rd}, {rng.choice(FP_CSRS)}, x0")
        elif choice == 1:
            self.emit("csrrs", f"{rd}, fflags, {self.xs()}")
        elif choice == 2:
            self.emit("csrrc", f"{rd}, {rng.choice(FP_CSRS)}, {self.xs()}")
        elif choice == 3:
            self.emit("csrrw", f"{rd}, fflags, {self.xs()}")
        elif choice == 4:
            csr = rng.choice(("fflags", "frm"))
            self.emit("csrrwi", f"{rd}, {csr}, {rng.randrange(32 if csr == 'fflags' else 5)}")
        else:
            op = rng.choice(("csrrsi", "csrrci"))
            csr = "fflags" if op == "csrrsi" else rng.choice(FP_CSRS)
            self.emit(op, f"{rd}, {csr}, {rng.randrange(32)}")

    def fence(self) -> None:
        self.emit(self.rng.choice(("fence", "fence.i")))

    def reseed_x(self) -> None:
        if self.rng.random() < 0.5:
            self.li(self.xd(), int_value(self.rng))
        else:
            self.emit("lw", f"{self.xd()}, {self.pool_offset('s', 4)}(x30)")

    def pool_offset(self, fmt: str, size: int) -> int:
        start = SCRATCH_BYTES + (0 if fmt == "s" else 4 * POOL_F32_WORDS)
        return self.rng.randrange(start, start + 4 * (POOL_F32_WORDS if fmt == "s" else POOL_F16_WORDS), size)

    def reseed_f(self) -> None:
        r = self.rng.random()
        if r < 0.7:
            fmt = "s" if r < 0.35 else "h"
            op, size = ("flw", 4) if fmt == "s" else ("flh", 2)
            self.emit(op, f"{self.fd(fmt)}, {self.pool_offset(fmt, size)}(x30)")
            return
        tmp = f"x{self.rng.randint(1, 29)}"
        if r < 0.85:
            self.li(tmp, f32_value(self.rng))
            self.emit("fmv.w.x", f"{self.fd('s')}, {tmp}")
        else:
            self.li(tmp, f16_value(self.rng))
            self.emit("fmv.h.x", f"{self.fd('h')}, {tmp}")

    def fp_simple(self, fmt: str) -> None:
        """A two-operand FP operation (single word, no setup)."""
        op = self.rng.choice(("fadd", "fsub", "fmul", "fmin", "fmax", "fsgnj"))
        rm = self.rm() if op in ("fadd", "fsub", "fmul") else ""
        self.emit(f"{op}.{fmt}", f"{self.fd(fmt)}, {self.fs(fmt)}, {self.fs(fmt)}{rm}")

    def fp(self, fmt: str) -> None:
        rng = self.rng
        op = rng.choice(("fadd fsub fmul fdiv fsqrt fmin fmax fsgnj fsgnjn fsgnjx fmadd fmsub "
                         "fnmadd fnmsub fma feq flt fle fclass fcvt.w fcvt.wu fcvt.from fmv.x "
                         "fmv.f fload fstore").split())
        m = f"{op}.{fmt}"
        fd, a, b, c = self.fd(fmt), self.fs(fmt), self.fs(fmt), self.fs(fmt)
        if op in ("fadd", "fsub", "fmul", "fdiv"):
            self.emit(m, f"{fd}, {a}, {b}{self.rm()}")
        elif op == "fsqrt":
            self.emit(m, f"{fd}, {a}{self.rm()}")
        elif op in ("fmin", "fmax", "fsgnj", "fsgnjn", "fsgnjx"):
            self.emit(m, f"{fd}, {a}, {b}")
        elif op in ("fmadd", "fmsub", "fnmadd", "fnmsub"):
            self.emit(m, f"{fd}, {a}, {b}, {c}{self.rm()}")
        elif op == "fma":
            # The product's rounding error, exactly: t = a*b; d = a*b - t (cancellation, tiny
            # and zero results with their signs).
            t = self.fd(fmt)
            self.emit(f"fmul.{fmt}", f"{t}, {a}, {b}{self.rm()}")
            fma = rng.choice(("fmadd", "fmsub", "fnmadd", "fnmsub"))
            self.emit(f"{fma}.{fmt}", f"{fd}, {a}, {b}, {t}{self.rm()}")
        elif op in ("feq", "flt", "fle"):
            self.emit(m, f"{self.xd()}, {a}, {a if rng.random() < 0.1 else b}")
        elif op == "fclass":
            self.emit(m, f"{self.xd()}, {a}")
        elif op in ("fcvt.w", "fcvt.wu"):
            self.emit(f"{op}.{fmt}", f"{self.xd()}, {a}{self.rm()}")
        elif op == "fcvt.from":
            self.emit(f"fcvt.{fmt}.{rng.choice(('w', 'wu'))}", f"{fd}, {self.xs()}{self.rm()}")
        elif op == "fmv.x":
            self.emit(f"fmv.x.{'w' if fmt == 's' else 'h'}", f"{self.xd()}, {a}")
        elif op == "fmv.f":
            self.emit(f"fmv.{'w' if fmt == 's' else 'h'}.x", f"{fd}, {self.xs()}")
        elif op == "fload":
            size = 4 if fmt == "s" else 2
            self.emit("flw" if fmt == "s" else "flh",
                      f"{fd}, {rng.randrange(0, SCRATCH_BYTES, size)}(x30)")
        else:
            size = 4 if fmt == "s" else 2
            self.emit("fsw" if fmt == "s" else "fsh",
                      f"{a}, {rng.randrange(0, SCRATCH_BYTES, size)}(x30)")

    def fp_convert_sh(self) -> None:
        if self.rng.random() < 0.5:
            self.emit("fcvt.s.h", f"{self.fd('s')}, {self.fs('h')}")
        else:
            self.emit("fcvt.h.s", f"{self.fd('h')}, {self.fs('s')}{self.rm()}")

    # --- program -----------------------------------------------------------------------------------
    def dump(self) -> None:
        for i in range(1, 30):
            self.emit("sw", f"x{i}, {4 * (i - 1)}(x31)")
        for i in range(32):
            self.emit("fsw", f"f{i}, {4 * (29 + i)}(x31)")
        self.emit("csrrs", "x1, fcsr, x0")        # x1 was saved above and is restored below
        self.emit("sw", f"x1, {4 * 61}(x31)")
        self.emit("lw", "x1, 0(x31)")
        self.emit("addi", f"x31, x31, {DUMP_BYTES}")

    def program(self, blocks: int, seed: int) -> Program:
        rng = self.rng
        out: list[str] = [f"# random RV32IMF{'C' if self.rvc else ''}+Zfh program, seed {seed}, {blocks} blocks",
                          f"    .option {'rvc' if self.rvc else 'norvc'}", "    .text", "    .globl _start", "_start:"]
        block_lines: list[list[str]] = []
        random_count = 0
        self.lines = []
        self.emit("la", "x30, scratch")
        self.emit("la", "x31, dump")
        for i in range(32):
            value = f32_value(rng) if i < 16 else half_register_value(rng)
            self.li("x1", value)
            self.emit("fmv.w.x", f"f{i}, x1")
        for i in range(1, 30):
            self.li(f"x{i}", int_value(rng))
        block_lines.append(list(self.lines))
        self.dump()
        out += self.lines
        for b in range(1, blocks + 1):
            self.lines = []
            self.emit("csrrwi", "x0, fflags, 0")
            self.emit("csrrwi", f"x0, frm, {rng.randrange(5)}")
            for _ in range(rng.randint(*self.block_size)):
                rng.choices(self.kinds, self.weights)[0]()
            random_count += sum(not line.endswith(":") and not line.startswith("    .")
                                for line in self.lines) - 2
            block_lines.append(list(self.lines))
            self.dump()
            out.append(f"block_{b}:")
            out += self.lines
        self.lines = []
        self.li("x17", 64)
        self.li("x10", 1)
        self.emit("la", "x11, dump")
        self.li("x12", (blocks + 1) * DUMP_BYTES)
        self.emit("ecall")
        self.li("x17", 93)
        self.li("x10", 0)
        self.emit("ecall")
        out.append("end_of_blocks:")
        out += self.lines
        scratch = []
        while len(scratch) < SCRATCH_BYTES // 4:
            if rng.random() < 0.5:
                scratch.append(f32_value(rng))
            else:
                scratch.append(f16_value(rng) | f16_value(rng) << 16)
        scratch += [f32_value(rng) for _ in range(POOL_F32_WORDS)]
        scratch += [f16_value(rng) | f16_value(rng) << 16 for _ in range(POOL_F16_WORDS)]
        out += ["", "    .data", "    .balign 16", "scratch:"]
        out += [f"    .word {', '.join(f'{w:#010x}' for w in scratch[i:i + 8])}"
                for i in range(0, len(scratch), 8)]
        out += ["    .balign 16", "dump:", f"    .space {(blocks + 1) * DUMP_BYTES}", ""]
        return Program(seed, "\n".join(out), block_lines, random_count)


def generate(seed: int, blocks: int, block_size: tuple[int, int] = DEFAULT_BLOCK_SIZE,
             rvc: bool = False) -> Program:
    """A random program: deterministic for (seed, blocks, block_size, rvc)."""
    return _Generator(seed, block_size, rvc).program(blocks, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--block-size", type=int, nargs=2, default=DEFAULT_BLOCK_SIZE,
                        metavar=("MIN", "MAX"), help="random instructions per block")
    parser.add_argument("--rvc", action="store_true", help="compressed code, with explicit c. instructions")
    parser.add_argument("-o", "--output", help="write the program here instead of stdout")
    args = parser.parse_args(argv)
    text = generate(args.seed, args.blocks, tuple(args.block_size), args.rvc).source
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
