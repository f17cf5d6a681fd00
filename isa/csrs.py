"""The control and status registers the cores implement: number, name, access, meaning.

Behaviour (what a read returns, what a write does) lives in `simulator.hart`; this table is what the
assembler (CSR names), the disassembler and `docs/ISA.md` read.
Sources: RISC-V privileged spec 1.12 (machine-mode CSRs), RI5CY user manual v2.2 (hardware-loop CSRs
0x7B0-0x7B6, performance counters PCCR 0x780-0x79F, PCER 0xCC0, PCMR 0xCC1).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Csr:
    number: int
    name: str
    writable: bool
    description: str


# RI5CY performance-counter events, in PCCR index order (RI5CY manual, "Performance Counters").
PERF_EVENTS: tuple[str, ...] = (
    "cycles", "instr", "ld_stall", "jr_stall", "imiss", "ld", "st", "jump", "branch", "btaken",
    "rvc", "ld_ext", "st_ext", "ld_ext_cyc", "st_ext_cyc", "tcdm_cont",
)

CSRS: list[Csr] = [
    Csr(0x001, "fflags", True, "FP accrued exception flags (NV DZ OF UF NX)"),
    Csr(0x002, "frm", True, "FP dynamic rounding mode"),
    Csr(0x003, "fcsr", True, "frm (bits 7:5) and fflags (bits 4:0)"),
    Csr(0x300, "mstatus", True, "machine status: MIE (3), MPIE (7), MPP (12:11, always M), FS (14:13)"),
    Csr(0x301, "misa", False, "ISA: RV32 I M F X (writes ignored)"),
    Csr(0x304, "mie", True, "machine interrupt enable (no interrupt sources are modelled)"),
    Csr(0x305, "mtvec", True, "trap vector base (direct mode; low 2 bits read as 0)"),
    Csr(0x340, "mscratch", True, "scratch register for trap handlers"),
    Csr(0x341, "mepc", True, "pc of the instruction that trapped (bit 0 reads as 0)"),
    Csr(0x342, "mcause", True, "trap cause"),
    Csr(0x343, "mtval", True, "faulting address or instruction word"),
    Csr(0x344, "mip", True, "machine interrupt pending (no interrupt sources are modelled)"),
    Csr(0xB00, "mcycle", True, "cycle counter, low 32 bits"),
    Csr(0xB02, "minstret", True, "retired-instruction counter, low 32 bits"),
    Csr(0xB80, "mcycleh", True, "cycle counter, high 32 bits"),
    Csr(0xB82, "minstreth", True, "retired-instruction counter, high 32 bits"),
    Csr(0xC00, "cycle", False, "read-only shadow of mcycle"),
    Csr(0xC02, "instret", False, "read-only shadow of minstret"),
    Csr(0xC80, "cycleh", False, "read-only shadow of mcycleh"),
    Csr(0xC82, "instreth", False, "read-only shadow of minstreth"),
    Csr(0xF11, "mvendorid", False, "vendor id (0)"),
    Csr(0xF12, "marchid", False, "architecture id (0)"),
    Csr(0xF13, "mimpid", False, "implementation id (0)"),
    Csr(0xF14, "mhartid", False, "hart id = core id in the cluster (controller = 8)"),
    Csr(0x7B0, "lpstart0", True, "hardware loop 0 start address"),
    Csr(0x7B1, "lpend0", True, "hardware loop 0 end address (last instruction of the body)"),
    Csr(0x7B2, "lpcount0", True, "hardware loop 0 remaining iterations"),
    Csr(0x7B4, "lpstart1", True, "hardware loop 1 start address"),
    Csr(0x7B5, "lpend1", True, "hardware loop 1 end address (last instruction of the body)"),
    Csr(0x7B6, "lpcount1", True, "hardware loop 1 remaining iterations"),
    Csr(0xCC0, "pcer", True, "RI5CY performance counter event enable (one bit per PCCR counter)"),
    Csr(0xCC1, "pcmr", True, "RI5CY performance counter mode: bit 0 global enable, bit 1 saturate"),
]
CSRS += [Csr(0x780 + i, f"pccr{i}", True, f"RI5CY performance counter {i}: {ev}")
         for i, ev in enumerate(PERF_EVENTS)]
CSRS += [Csr(0x780 + i, f"pccr{i}", True, f"RI5CY performance counter {i} (no event; reads 0)")
         for i in range(len(PERF_EVENTS), 31)]
CSRS.append(Csr(0x79F, "pccr31", True, "RI5CY: a write sets every counter; reads 0"))

CSR_BY_NUMBER: dict[int, Csr] = {c.number: c for c in CSRS}
CSR_BY_NAME: dict[str, Csr] = {c.name: c for c in CSRS}
