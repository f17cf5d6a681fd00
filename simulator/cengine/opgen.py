"""Instruction ids and operand slots shared by the C engine and Python, derived from the table.

`ops_header()` is the text of ops_gen.h (one `MCU_OP_<NAME>` per table entry, in table order);
`predecode(d)` fills an McuInsn record's slots from a decoded instruction. Both come from
isa.spec.INSTRUCTIONS, so adding an instruction needs no change here (only its C semantics, or it
runs through the Python reference).
"""
from __future__ import annotations

import re

from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import INSTRUCTIONS, Instr
from mcusim.isa.timing import is_vector_fp
import mcusim.isa.ext  # noqa: F401  (registers every instruction)

# Register fields -> McuInsn register slot
REGISTER_SLOTS = {"rd": "rd", "fd": "rd", "rs1": "rs1", "fs1": "rs1", "rs2": "rs2", "fs2": "rs2",
                  "rs3": "rs3", "fs3": "rs3"}


def op_name(entry: Instr) -> str:
    """MCU_OP_ name of an entry: its key in upper case, other characters as '_'."""
    return "MCU_OP_" + re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", entry.key)).strip("_").upper()


# Ops that get their own issue function in the C engine (engine.c ISSUE_BY_OP, from
# MCU_SPECIALISED_OPS): with the op and its timing class known at compile time, the semantic and cost
# switches fold to one case and every data-dependent branch of the function is predicted for that op
# alone. Chosen from the instruction mix of the training steps (ResNet8 and DS-CNN, FP16 and FP32: five
# ops make 90-96% of the instructions, these cover over 99%) and the integer loops around them; every
# other op takes the generic copy, with identical results. A performance choice only: listing or
# removing an op changes no result (tools/gen_cluster_program.py must generate every listed op, so the
# equivalence tests compare each function with the reference).
SPECIALISED_ISSUE = (
    "addi", "add", "sub", "and", "or", "xor", "andi", "slli", "srli", "srai", "slt", "sltu", "lui",
    "lw", "sw", "lh", "lhu", "sh", "lbu", "sb",
    "p.lw [imm post-inc]", "p.sw [imm post-inc]", "p.lh [imm post-inc]", "p.lhu [imm post-inc]",
    "p.sh [imm post-inc]", "p.lbu [imm post-inc]", "p.sb [imm post-inc]",
    "beq", "bne", "blt", "bge", "bltu", "bgeu", "jal", "jalr", "mul", "p.mac", "p.max", "p.min",
    "lp.setup", "lp.setupi",
    "flw", "fsw", "flh", "fsh", "fmv.w.x", "fmv.x.w", "fmadd.s", "fadd.s", "fmul.s", "fmadd.h",
    "vfdotpex.s.h", "vfmac.h", "vfmac.r.h", "vfmul.r.h", "vfadd.h", "vfcpka.h.s", "pv.max.h",
    "pv.cmpgt.h",
    # the rest of the kernel library's ops, what compilers emit around them, the FP ops of
    # tools/bench_matrix.py's classes, and the CSR reads (core_id, mcycle)
    "auipc", "sll", "srl", "sra", "slti", "sltiu", "ori", "xori", "lb",
    "mulh", "mulhu", "div", "divu", "rem", "remu", "p.minu", "p.maxu", "p.abs", "p.clip",
    "p.extract", "p.extractu", "p.exths", "p.exthz", "p.extbs", "p.extbz",
    "p.lw [reg post-inc]", "p.lh [reg post-inc]", "p.lhu [reg post-inc]", "p.sw [reg post-inc]",
    "fsub.s", "fdiv.s", "fmsub.s", "fnmsub.s", "fnmadd.s", "fmin.s", "fmax.s", "feq.s", "flt.s", "fle.s",
    "fsgnj.s", "fsgnjn.s", "fsgnjx.s", "fcvt.w.s", "fcvt.s.w", "fcvt.wu.s", "fcvt.s.wu", "fclass.s",
    "fadd.h", "fsub.h", "fmul.h", "fmsub.h", "fnmsub.h", "fmin.h", "fmax.h", "feq.h", "flt.h", "fle.h",
    "fsgnj.h", "fsgnjn.h", "fsgnjx.h", "fcvt.h.s", "fcvt.s.h", "fmv.h.x", "fmv.x.h",
    "fmulex.s.h", "fmacex.s.h", "vfsub.h", "vfmul.h", "vfmax.h", "vfmin.h", "vfmre.h", "vfadd.r.h",
    "vfsub.r.h", "vfmax.r.h", "vfdotpex.s.r.h", "vfsgnj.h", "vfsgnjn.h", "vfmv.x.h", "vfmv.h.x",
    "pv.add.h", "pv.sub.h", "pv.dotsp.h", "pv.sdotsp.h",
    "csrrs", "csrrw", "ecall",
)

# Pairs of specialised ops that share one issue function, which chooses between their two inlined copies
# with a conditional branch. When cores interleave a load and a store of the same kind out of phase (bank
# conflicts shift them), the op a core issues next is not in the recent branch history and the indirect
# call through ISSUE_BY_OP mispredicted about every other time; the conditional branch is predicted
# better (measured on tools/bench_matrix.py, 8 cores: lw/sw 18.4 -> 16.4 ns, flw/fsw 18.3 -> 15.3 ns
# per instruction; a lone op's cost unchanged). Both ops of a pair must be in SPECIALISED_ISSUE.
PAIRED_ISSUE = (
    ("lw", "sw"), ("flw", "fsw"), ("lh", "sh"), ("lbu", "sb"), ("flh", "fsh"),
    ("p.lw [imm post-inc]", "p.sw [imm post-inc]"), ("p.lh [imm post-inc]", "p.sh [imm post-inc]"),
    ("p.lbu [imm post-inc]", "p.sb [imm post-inc]"),
)

OP_INDEX: dict[int, int] = {id(e): i for i, e in enumerate(INSTRUCTIONS)}
OP_INVALID = len(INSTRUCTIONS)


def slot_plan(entry: Instr) -> tuple[tuple[str, str], ...]:
    """(field name, slot) for each operand: a register slot, 'rm', or 'imm0'..'imm2'."""
    plan = []
    k = 0
    for name in entry.operands:
        if name in REGISTER_SLOTS:
            plan.append((name, REGISTER_SLOTS[name]))
        elif FIELDS[name].kind is Kind.RM:
            plan.append((name, "rm"))
        else:
            plan.append((name, f"imm{k}"))
            k += 1
    if k > 3:
        raise ValueError(f"{entry.key}: more than three immediate operands")
    return tuple(plan)


def ops_header() -> str:
    names = [op_name(e) for e in INSTRUCTIONS]
    if len(set(names)) != len(names):
        raise ValueError("two table entries mangle to the same MCU_OP_ name")
    lines = ["/* Generated from the instruction table by simulator/cengine/opgen.py; do not edit. */",
             "#ifndef MCU_OPS_GEN_H", "#define MCU_OPS_GEN_H", ""]
    for i, (entry, name) in enumerate(zip(INSTRUCTIONS, names)):
        slots = ", ".join(f"{f}->{s}" for f, s in slot_plan(entry)) or "no operands"
        lines.append(f"#define {name} {i}  /* {entry.key}: {slots} */")
    by_key = {e.key: (e, name) for e, name in zip(INSTRUCTIONS, names)}
    unknown = [k for k in SPECIALISED_ISSUE if k not in by_key]
    if unknown:
        raise ValueError(f"SPECIALISED_ISSUE names ops not in the table: {unknown}")
    if len(set(SPECIALISED_ISSUE)) != len(SPECIALISED_ISSUE):
        raise ValueError("SPECIALISED_ISSUE names an op twice")
    paired = [k for pair in PAIRED_ISSUE for k in pair]
    if not set(paired) <= set(SPECIALISED_ISSUE) or len(set(paired)) != len(paired):
        raise ValueError("PAIRED_ISSUE names an op twice or one not in SPECIALISED_ISSUE")
    lines += ["", "/* X(op, timing class) for each op with an issue function of its own (opgen.SPECIALISED_ISSUE",
              " * but the ops of PAIRED_ISSUE) */",
              "#define MCU_SPECIALISED_OPS(X) \\"]
    lines += [f"    X({by_key[k][1]}, MCU_T_{by_key[k][0].timing.upper()}) \\" for k in SPECIALISED_ISSUE
              if k not in paired]
    lines += ["    /* end */"]
    lines += ["", "/* X(op a, class a, op b, class b) for each pair sharing an issue function (opgen.PAIRED_ISSUE) */",
              "#define MCU_PAIRED_OPS(X) \\"]
    lines += [f"    X({by_key[a][1]}, MCU_T_{by_key[a][0].timing.upper()}, "
              f"{by_key[b][1]}, MCU_T_{by_key[b][0].timing.upper()}) \\" for a, b in PAIRED_ISSUE]
    lines += ["    /* end */"]
    from mcusim.simulator.hart import MISA    # one value for both engines' misa CSR
    lines += ["", f"#define MCU_NUM_OPS {len(names)}", f"#define MCU_OP_INVALID {OP_INVALID}",
              f"#define MCU_MISA {MISA:#010x}u", ""]
    from mcusim.isa.csrs import CSRS      # which CSRs exist and which are writable: one table for both engines
    kinds = {True: [], False: []}
    for csr in CSRS:
        kinds[csr.writable].append(f"case {csr.number:#05x}:")
    lines += ["/* CSR n: 0 none (a CSR instruction on it is illegal), 1 read-only (a write is illegal), 2 writable",
              " * (isa/csrs.py, as Hart.csr_access checks them) */",
              "static inline int mcu_csr_kind(unsigned n) {", "    switch (n) {"]
    for writable in (True, False):
        names = kinds[writable]
        lines += ["    " + " ".join(names[i:i + 8]) for i in range(0, len(names), 8)]
        lines += [f"        return {2 if writable else 1};"]
    lines += ["    default: return 0;", "    }", "}", ""]
    from mcusim.isa.csrs import PERF_EVENTS
    lines += [f"#define MCU_NPERF_EVENTS {len(PERF_EVENTS)}  /* RI5CY performance-counter events (isa/csrs.py) */", ""]
    from mcusim.simulator import memory_map as mm   # the peripheral register map eu.c implements
    lines += ["/* peripheral register offsets (simulator/memory_map.py) */"]
    lines += [f"#define MCU_{name} {getattr(mm, name):#x}u" for name in dir(mm)
              if name.startswith(("EU_", "DMA_", "REGION_")) and isinstance(getattr(mm, name), int)]
    lines += [f"#define MCU_DISPATCH_RETURN {mm.DISPATCH_RETURN:#010x}u",
              f"#define MCU_REGION_IDS {mm.MAX_REGIONS}   /* memory_map.MAX_REGIONS */", ""]
    flags = ", ".join("1" if is_vector_fp(e) else "0" for e in INSTRUCTIONS)
    lines += ["/* 1 for the smallFloat vector ops (isa.timing.is_vector_fp): the fpu_vec_ops event */",
              f"static const unsigned char MCU_VECTOR_FP[MCU_NUM_OPS + 1] = {{{flags}, 0}};", "", "#endif", ""]
    return "\n".join(lines)
