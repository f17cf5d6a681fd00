"""Generates the C SDK's `include/mcusim_gen.h` from the two sources of truth it mirrors: the
peripheral register map (`simulator.memory_map`) and the instruction table (`isa/`).

    python -m mcusim.simulator.sdk_gen > simulator/sdk/include/mcusim_gen.h

A test fails when the committed header differs from what this prints.

Every Xpulpv2 / Xfvec / Xfaux entry whose operands are registers in the R-type slots (rd 11:7,
rs1 19:15, rs2 24:20; rs2 may be a fixed value) becomes a `static inline` function around one
`.insn r OPCODE, FUNCT3, FUNCT7, rd, rs1, rs2` statement, so clang and GCC emit the exact word without
knowing the mnemonic; when the compiler targets CORE-V (`-march=..._xcv...`, `mcusim cc --isa corev`)
an Xpulpv2 function emits the word of its CORE-V twin (isa/ext/xcv_*.py) instead. Operand C types: x registers are `int32_t` (packed SIMD vectors travel as
their 32-bit word); f registers follow the format letters of the mnemonic (`.h` on a `vf`
instruction: `v2f16`, two halves in one f register; `.h` otherwise: `_Float16`; `.s`: `float`), the
first letter for the destination and the last for the sources (`vfdotpex.s.h`: float from v2f16,
`vfcpka.h.s`: v2f16 from floats). Accumulating instructions (`reads_dest`) take the accumulator first.
"""
from __future__ import annotations

import sys

import mcusim.isa.ext  # noqa: F401  (registers the table)
from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import CUSTOM_ISAS, ENCODINGS, INSTRUCTIONS, ISA_OF_EXTENSION, Instr
from mcusim.simulator import memory_map as mm

EXTENSIONS = ("Xpulpv2", "Xfvec", "Xfaux")
R_SLOTS = {"d": 0xF80, "1": 0xF8000, "2": 0x1F00000}
R_FIXED = 0xFE00707F             # opcode, funct3, funct7

_MAP_CONSTANTS = ("TCDM_BASE", "L2_BASE", "PERIPH_BASE", "ALIAS_BASE", "EU_OFFSET", "DMA_OFFSET",
                  "REGION_NAME_BEGIN", "REGION_NAME_END", "REGION_NAME_MAX", "DISPATCH_RETURN")


def _slot(name: str) -> str | None:
    """'d', '1' or '2' for a register operand in an R-type slot, else None."""
    f = FIELDS[name]
    if f.kind not in (Kind.XREG, Kind.FREG):
        return None
    for slot, mask in R_SLOTS.items():
        if f.word_mask == mask:
            return slot
    return None


def _formats(ins: Instr) -> tuple[str, str]:
    """(destination, source) format letters from the mnemonic's suffixes ('h', 's', or 'x')."""
    parts = [p for p in ins.mnemonic.split(".")[1:] if p in ("h", "s", "b", "x", "r")]
    letters = [p for p in parts if p in ("h", "s", "x")]
    if not letters:
        return "s", "s"
    return letters[0], letters[-1]


def _ctype(ins: Instr, name: str, dest: bool) -> str:
    if FIELDS[name].kind is Kind.XREG:
        return "int32_t"
    letter = _formats(ins)[0 if dest else 1]
    if letter == "h":
        return "v2f16" if ins.mnemonic.startswith("vf") else "_Float16"
    return "float"


def _r_shape(ins: Instr) -> tuple[dict[str, str], int | None] | None:
    """({slot: operand name}, fixed rs2 or None) when `ins` is an R-type-shaped register instruction
    that does not touch memory (post-increment and register-offset loads/stores are left to the
    compiler's own forms), else None."""
    if "(" in ins.syntax or ins.timing in ("load", "store"):
        return None
    slots = {}
    for name in ins.operands:
        slot = _slot(name)
        if slot is None:
            return None
        slots[slot] = name
    if "d" not in slots or "1" not in slots:
        return None
    fixed_rs2 = None
    if "2" not in slots:
        if ins.mask & R_SLOTS["2"] != R_SLOTS["2"]:
            return None
        fixed_rs2 = (ins.match >> 20) & 31
    if ins.mask | sum(R_SLOTS[s] for s in slots) != 0xFFFF_FFFF or ins.mask & R_FIXED != R_FIXED:
        return None
    return slots, fixed_rs2


def _insn(ins: Instr, fixed_rs2: int | None, nsrcs: int) -> str:
    opcode, funct3, funct7 = ins.match & 0x7F, (ins.match >> 12) & 7, ins.match >> 25
    ops = ["%0", "%1", "%2" if nsrcs > 1 else f"x{fixed_rs2}"]
    return f".insn r {opcode:#x}, {funct3}, {funct7:#x}, {', '.join(ops)}"


def insn_function(ins: Instr, corev_twin: Instr | None = None) -> str | None:
    """The C inline function for `ins`, or None when its encoding is not R-type-shaped. With a
    CORE-V twin of the same shape, the function emits the twin's word when the compiler targets
    CORE-V (MCUSIM_COREV), so a `--isa corev` program runs on cores that decode that set."""
    shape = _r_shape(ins)
    if shape is None:
        return None
    slots, fixed_rs2 = shape
    func = "__" + ins.mnemonic.replace(".", "_")
    rd = slots["d"]
    rtype = _ctype(ins, rd, True)
    cons = {Kind.XREG: "r", Kind.FREG: "f"}
    params, inputs = [], []
    if ins.reads_dest:
        params.append(f"{rtype} acc")
    srcs = [slots[s] for s in ("1", "2") if s in slots]
    for name in srcs:
        params.append(f"{_ctype(ins, name, False)} {name}")

    def reg(ctype: str, expr: str) -> str:
        # a v2f16 travels in an f register as the float with the same bits
        return f"_mcusim_v2h_bits({expr})" if ctype == "v2f16" else expr

    dtmp = "float" if rtype == "v2f16" else rtype
    body = [f"    {dtmp} d{' = ' + reg(rtype, 'acc') if ins.reads_dest else ''};"]
    for name in srcs:
        ctype = _ctype(ins, name, False)
        inputs.append(f'"{cons[FIELDS[name].kind]}"({reg(ctype, name)})')
    out = f'"{"+" if ins.reads_dest else "="}{cons[FIELDS[rd].kind]}"(d)'
    operands = f" : {out} : {', '.join(inputs)});"
    asm = f'    __asm__ ("{_insn(ins, fixed_rs2, len(srcs))}"{operands}'
    if corev_twin is not None:
        body += ["#if MCUSIM_COREV", f'    __asm__ ("{_insn(corev_twin, fixed_rs2, len(srcs))}"{operands}',
                 "#else", asm, "#endif"]
    else:
        body.append(asm)
    body.append("    return _mcusim_bits_v2h(d);" if rtype == "v2f16" else "    return d;")
    note = f" (CORE-V: {corev_twin.mnemonic})" if corev_twin is not None else ""
    pre = [f"/* {ins.mnemonic} {ins.syntax}: {ins.description}{note} */"]
    sig = f"static inline __attribute__((always_inline)) {rtype} {func}({', '.join(params) or 'void'})"
    return "\n".join(pre + [sig + " {"] + body + ["}"])


def _corev_twins() -> dict[int, Instr]:
    """id(Xpulpv2 row) -> its CORE-V second encoding, when both have the same R-type operands."""
    twins = {}
    for row in ENCODINGS:
        if row.twin is not None and ISA_OF_EXTENSION.get(row.extension) == "corev" \
                and _r_shape(row) is not None and row.operands == row.twin.operands:
            twins[id(row.twin)] = row
    return twins


def header() -> str:
    lines = [
        "/* Generated by `python -m mcusim.simulator.sdk_gen` from simulator/memory_map.py and the isa/ table.",
        " * Do not edit: a test fails when this file is stale. Included by mcusim.h. */",
        "#ifndef MCUSIM_GEN_H",
        "#define MCUSIM_GEN_H",
        "#include <stdint.h>",
        "",
        "",
        "/* memory map and peripheral registers (offsets from PERIPH_BASE; x0-relative through the alias) */",
    ]
    for name in _MAP_CONSTANTS:
        lines.append(f"#define MCUSIM_{name} {getattr(mm, name):#x}")
    for prefix, base in (("EU_", 0), ("DMA_", mm.DMA_OFFSET)):
        for name in sorted(n for n in dir(mm) if n.startswith(prefix) and n != prefix + "OFFSET"):
            lines.append(f"#define MCUSIM_{name} {base + getattr(mm, name):#x}")
    corev_macros = " || ".join(f"defined(__riscv_{ext.lower()})" for ext in CUSTOM_ISAS["corev"])
    lines += ["#define MCUSIM_ALIAS(offset) ((offset) - 2048)", "",
              "/* Xpulpv2 / Xfvec / Xfaux instructions as inline functions (R-type encodings only). When the",
              " * compiler targets CORE-V (`mcusim cc --isa corev`), an Xpulpv2 function emits its CORE-V twin;",
              " * one without a twin is not defined there (the core decodes one set). */",
              f"#if {corev_macros}", "#define MCUSIM_COREV 1", "#else", "#define MCUSIM_COREV 0", "#endif", ""]
    twins = _corev_twins()
    seen: set[str] = set()
    fp16: list[str] = []
    xpulp_only: list[str] = []
    for ins in INSTRUCTIONS:
        if ins.extension not in EXTENSIONS:
            continue
        twin = twins.get(id(ins))
        text = insn_function(ins, twin)
        name = "__" + ins.mnemonic.replace(".", "_")
        if text is None or name in seen:
            continue
        seen.add(name)
        # Functions with a half-precision operand need a compiler with _Float16 (and Zfh for "f")
        if "_Float16" in text or "v2f16" in text:
            fp16 += [text, ""]
        elif ins.extension == "Xpulpv2" and twin is None:
            xpulp_only += [text, ""]
        else:
            lines += [text, ""]
    if xpulp_only:
        lines += ["#if !MCUSIM_COREV", "/* Xpulpv2 instructions without a CORE-V twin of the same shape */", ""]
        lines += xpulp_only + ["#endif /* !MCUSIM_COREV */", ""]
    lines += ["#if defined(__FLT16_MAX__)",
              "/* two FP16 lanes in one 32-bit f register (PULP-TrainLib's v2f16) */",
              "typedef _Float16 v2f16 __attribute__((vector_size(4)));",
              "static inline __attribute__((always_inline)) float _mcusim_v2h_bits(v2f16 v) {",
              "    union { v2f16 v; float f; } u = {v};",
              "    return u.f;",
              "}",
              "static inline __attribute__((always_inline)) v2f16 _mcusim_bits_v2h(float f) {",
              "    union { float f; v2f16 v; } u = {f};",
              "    return u.v;",
              "}",
              ""] + fp16 + ["#endif /* __FLT16_MAX__ */", "#endif"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(header())
