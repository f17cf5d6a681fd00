"""Per-instruction profiles of cluster runs, and reports of them (perf-annotate style).

    result = Cluster(image, config, cores=8, profile=True).run()
    prof = result.profile                 # {pc: (executions, cycles)} over all cores
    prof.per_core[0][pc], prof.stalls[pc]["tcdm_contention"], prof.symbols, prof.where(pc), prof.text(pc)
    print_profile(result)                 # regions with stall causes, hottest instructions and labels

What an instruction is charged (both engines, simulator/cluster.py Cluster._profile_step and its twin
engine.c profile_step): the cycles from the cycle its core was ready to issue it to the cycle the
core was ready to issue its next instruction, so operand waits, its own cost and any sleep it
caused (a barrier, a wait for an event or a DMA) land on it, plus the stall cycles its core counted
in that interval, by cause. The last instruction of a core runs to the core's end cycle. Per core,
the profiled cycles add up to the core's cycles since its first instruction (its end cycle in SPMD
runs). Cycles are core cycles: eight cores waiting at one barrier for 10 cycles make 80.

The counters live in tables over the pre-decoded code range (MAX_WORDS words at most, WIDTH int64
each: count, cycles, then one per stall cause; in C mode shared with the C loop), and in a dict for
pcs outside it (the dispatch-return address of forked workers).
"""
from __future__ import annotations

import contextlib
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mcusim.simulator import memory_map as mm
from mcusim.simulator.cluster import STALL_CAUSES
from mcusim.simulator.memory_map import DISPATCH_RETURN, REGION_SYMBOL_PREFIX

if TYPE_CHECKING:
    from rich.console import Console

    from mcusim.simulator.cluster import Cluster, ClusterResult
    from mcusim.simulator.loader import Image

_GENERATED = re.compile(r"_\d+$")
MAX_WORDS = 1 << 16                 # table size limit per core (pcs beyond it go to the dict)
MAX_CODE_WORDS = 1 << 22            # the compiled engine's pre-decode limit
WIDTH = 2 + len(STALL_CAUSES)       # count, cycles, stall cycles per cause


def code_range(image: Image) -> tuple[int, int]:
    """(base address, words) of the code the compiled engine pre-decodes: every executable segment."""
    code = [s for s in image.segments if s.executable]
    if not code:
        return 0, 0
    lo = min(s.address for s in code) & ~3
    hi = max(s.address + s.mem_size for s in code)
    return lo, min((hi - lo + 3) // 4, MAX_CODE_WORDS)


class Profile(dict):
    """{pc: (executions, cycles)} for every executed pc, all cores together. Also:
    per_core {core id: {pc: (executions, cycles)}}, stalls {pc: {cause: cycles}} (non-zero causes,
    all cores), symbols {label: address} (the image's code labels), words {pc: instruction word},
    sleeps [(core id, cause, from cycle, to cycle)], name (the program's), isa (the custom-extension
    encodings the run decoded, for the disassembly)."""
    isa = "xpulpv2"

    def __init__(self, pcs: Mapping[int, tuple[int, int]], per_core: dict[int, dict[int, tuple[int, int]]],
                 stalls: dict[int, dict[str, int]], symbols: dict[str, int], words: dict[int, int],
                 sleeps: list[tuple[int, str, int, int]], name: str = "",
                 functions: frozenset[str] | set[str] = frozenset()) -> None:
        super().__init__(pcs)
        self.per_core = per_core
        self.stalls = stalls
        self.symbols = symbols
        self.words = words
        self.sleeps = sleeps
        self.name = name
        # several labels at one address: prefer a function (STT_FUNC), then one without a leading
        # "_" and without the numeric suffix of generated labels (`add_done_2` and `kernel_end` -> kernel_end)
        by_addr = sorted(((a, n) for n, a in symbols.items()),
                         key=lambda an: (an[0], an[1] not in functions, an[1].startswith("_"),
                                         bool(_GENERATED.search(an[1])), an[1]))
        self._addrs: list[int] = []
        self._names: list[str] = []
        for a, n in by_addr:                   # one name per address: the first of the sort above
            if not self._addrs or self._addrs[-1] != a:
                self._addrs.append(a)
                self._names.append(n)

    @property
    def cycles(self) -> int:
        return sum(c for _n, c in self.values())

    @property
    def count(self) -> int:
        return sum(n for n, _c in self.values())

    def core_cycles(self, core: int) -> int:
        return sum(c for _n, c in self.per_core.get(core, {}).values())

    def label(self, pc: int) -> tuple[str, int]:
        """(nearest label at or before pc, byte offset); ("", pc) when none."""
        if pc == DISPATCH_RETURN:
            return "<dispatch return>", 0
        i = bisect_right(self._addrs, pc) - 1
        return (self._names[i], pc - self._addrs[i]) if i >= 0 else ("", pc)

    def where(self, pc: int) -> str:
        """label+0xoff (label alone at offset 0), or the hex pc without a label."""
        name, off = self.label(pc)
        if not name:
            return f"{pc:#010x}"
        return f"{name}+{off:#x}" if off else name

    def text(self, pc: int) -> str:
        """Disassembly of the instruction at pc (with the peripheral register an x0-relative load or
        store reaches: `lw zero,-2040(zero)  # barrier`)."""
        from mcusim.isa.disasm import disassemble_word
        word = self.words.get(pc)
        if word is None:
            return "(returns to the dispatcher)" if pc == DISPATCH_RETURN else "(no memory)"
        text = disassemble_word(word, pc, self.isa).replace("\t", " ")
        reg = peripheral_register(word)
        return f"{text}  # {reg}" if reg else text

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "cycles": self.cycles, "count": self.count,
                "pcs": [{"pc": pc, "where": self.where(pc), "text": self.text(pc), "count": n, "cycles": c,
                         "stalls": self.stalls.get(pc, {})} for pc, (n, c) in sorted(self.items())],
                "per_core": {str(core): {str(pc): list(v) for pc, v in sorted(d.items())}
                             for core, d in sorted(self.per_core.items())}}


def _periph_names() -> dict[int, str]:
    names = {getattr(mm, n): n[3:].lower() for n in dir(mm) if n.startswith("EU_") and n != "EU_OFFSET"}
    names.update({mm.DMA_OFFSET + getattr(mm, n): n.lower() for n in dir(mm)
                  if n.startswith("DMA_") and n != "DMA_OFFSET"})
    names.update({mm.REGION_NAME_BEGIN: "region_begin (named)", mm.REGION_NAME_END: "region_end (named)"})
    return names


_PERIPH_NAMES = _periph_names()


def peripheral_register(word: int) -> str:
    """The peripheral register an x0-relative load or store reaches (barrier, core_id, dma_start,
    region_begin 3, ...), or ""."""
    from mcusim.isa.codec import decode
    d = decode(word)
    if d is None or d.values.get("rs1", -1) != 0 or d.instr.mnemonic not in ("lw", "sw", "lh", "lb", "lbu", "lhu"):
        return ""
    imm = d.values.get("imm12", d.values.get("simm12"))
    off = mm.periph_offset(imm & 0xFFFF_FFFF) if imm is not None else None
    if off is None:
        return ""
    if mm.REGION_BEGIN <= off < mm.REGION_END:
        return f"region_begin {(off - mm.REGION_BEGIN) >> 2}"
    if mm.REGION_END <= off < mm.REGION_END + 4 * mm.MAX_REGIONS:
        return f"region_end {(off - mm.REGION_END) >> 2}"
    return _PERIPH_NAMES.get(off, f"peripheral +{off:#x}")


def code_symbols(image: Image) -> dict[str, int]:
    """The image's labels inside executable segments (constants, region markers and compilers'
    internal labels left out: `.L` labels and `$x`/`$d` mapping symbols would split a function's
    cycles; among several names at one address the profile prefers a function, see Profile)."""
    code = [(s.address, s.address + s.mem_size) for s in image.segments if s.executable]
    return {n: a for n, a in image.symbols.items()
            if not n.startswith(REGION_SYMBOL_PREFIX) and not _compiler_local(n)
            and any(lo <= a < hi for lo, hi in code)}


def _compiler_local(name: str) -> bool:
    """A compiler's or assembler's internal label: `.L...`, or a mapping symbol (`$x`, `$d`, `$x.1`...)."""
    return name.startswith(".L") or name.startswith("$")


def collect(cluster: Cluster) -> Profile:
    """The Profile of a finished, profiled run (every core's last instruction already closed)."""
    # numpy not at module level: the engine imports this module, runs without a profile need none
    import numpy as np

    base, words = cluster.prof_base, cluster.prof_words
    per_core: dict[int, dict[int, tuple[int, int]]] = {}
    totals: dict[int, list[int]] = {}
    for index, core in enumerate(cluster.cores):
        if cluster.cengine is not None:
            table = cluster.cengine.profile_table(index)
        else:
            table = np.asarray(core.prof_tab, dtype=np.int64).reshape(words, WIDTH)
        rows: dict[int, list[int]] = {}
        for k in np.nonzero(table[:, 0])[0].tolist():
            rows[base + 4 * k] = table[k].tolist()
        for pc, row in core.prof_extra.items():
            if row[0] or row[1]:
                rows[pc] = list(row)
        if not rows:
            continue
        per_core[core.id] = {pc: (row[0], row[1]) for pc, row in sorted(rows.items())}
        for pc, row in rows.items():
            acc = totals.setdefault(pc, [0] * WIDTH)
            for i, v in enumerate(row):
                acc[i] += v
    words_at: dict[int, int] = {}
    for pc in totals:
        with contextlib.suppress(Exception):       # no memory there (the dispatch-return address)
            words_at[pc] = cluster.memory.read(pc, 4)
    stalls = {pc: {c: row[2 + i] for i, c in enumerate(STALL_CAUSES) if row[2 + i]} for pc, row in totals.items()}
    pcs = {pc: (row[0], row[1]) for pc, row in sorted(totals.items())}
    profile = Profile(pcs, per_core, stalls, code_symbols(cluster.image), words_at, list(cluster.sleeps),
                      getattr(cluster.image, "name", "") or "", cluster.image.functions)
    profile.isa = cluster.config.core.custom_isa
    return profile


# ------------------------------------------------------------------------------------------------
# Report rows
# ------------------------------------------------------------------------------------------------

def _share(part: float, total: float) -> float:
    return part / total if total else 0.0


def top_stalls(stalls: Mapping[str, int], cycles: int, n: int = 2) -> str:
    """`cause share, ...` of the n largest stall causes (shares of `cycles`; below 0.5% left out)."""
    big = sorted(((v, c) for c, v in stalls.items() if _share(v, cycles) >= 0.005), reverse=True)[:n]
    return ", ".join(f"{c} {100 * _share(v, cycles):.0f}%" for v, c in big)


def instruction_rows(profile: Profile, top: int | None = None) -> list[dict[str, Any]]:
    """Executed instructions, most cycles first: pc, where, text, count, cycles, share (of the
    profile), per_exec (cycles per execution), stalls {cause: cycles}."""
    total = profile.cycles
    rows = [{"pc": pc, "where": profile.where(pc), "label": profile.label(pc)[0], "text": profile.text(pc),
             "count": n, "cycles": c, "share": _share(c, total), "per_exec": _share(c, n),
             "stalls": dict(profile.stalls.get(pc, {}))}
            for pc, (n, c) in profile.items()]
    rows.sort(key=lambda r: (-r["cycles"], r["pc"]))
    return rows if top is None else rows[:top]


def label_rows(profile: Profile) -> list[dict[str, Any]]:
    """Per label (the instructions from it to the next label), most cycles first: label, count
    (instructions executed), cycles, share, stalls."""
    total = profile.cycles
    out: dict[str, dict[str, Any]] = {}
    for pc, (n, c) in profile.items():
        name = profile.label(pc)[0] or "(no label)"
        row = out.setdefault(name, {"label": name, "count": 0, "cycles": 0, "stalls": {}})
        row["count"] += n
        row["cycles"] += c
        for cause, v in profile.stalls.get(pc, {}).items():
            row["stalls"][cause] = row["stalls"].get(cause, 0) + v
    rows = sorted(out.values(), key=lambda r: (-r["cycles"], r["label"]))
    for r in rows:
        r["share"] = _share(r["cycles"], total)
    return rows


def region_rows(result: ClusterResult) -> list[dict[str, Any]]:
    """Per region (kernel): cycles (max over cores), core_cycles (sum), instret, stalls {cause: cycles
    summed over the cores}, cores."""
    rows = []
    for name, rec in result.regions.items():
        stalls = {c: sum(v["stalls"][c] for v in rec.per_core.values()) for c in STALL_CAUSES}
        rows.append({"region": name, "cycles": max(v["cycles"] for v in rec.per_core.values()),
                     "core_cycles": sum(v["cycles"] for v in rec.per_core.values()),
                     "instret": sum(v["instret"] for v in rec.per_core.values()), "cores": len(rec.per_core),
                     "stalls": stalls})
    return rows


def annotate(profile: Profile, min_share: float = 0.0) -> list[str]:
    """perf-annotate style listing in address order: a line per label, then per executed
    instruction `share% cycles count  pc: disassembly`; instructions below min_share left out."""
    total = profile.cycles
    lines = [f"{'share':>7} {'cycles':>10} {'count':>8}  (profile {profile.name or '-'}: {total:,} core cycles)"]
    last = None
    for pc, (n, c) in sorted(profile.items()):
        if _share(c, total) < min_share:
            continue
        name = profile.label(pc)[0]
        if name != last:
            lines.append(f"{'':>28}{name or '(no label)'}:")
            last = name
        lines.append(f"{100 * _share(c, total):6.2f}% {c:>10,} {n:>8,}  {pc:08x}: {profile.text(pc)}")
    return lines


# ------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------

def _stall_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    used = {c for r in rows for c, v in r["stalls"].items() if v}
    return [c for c in STALL_CAUSES if c in used]


def region_table(rows: list[dict[str, Any]], title: str = "kernels (regions): cycles and stall causes"):
    """rows as region_rows gives (extra keys ignored); stall columns in % of the region's core cycles."""
    from rich.table import Table
    t = Table(title=title, title_justify="left")
    causes = _stall_columns(rows)
    for col in ("region", "cycles", "core cycles", "instret", *causes):
        t.add_column(col, justify="left" if col == "region" else "right")
    for r in rows:
        t.add_row(r["region"], f"{r['cycles']:,}", f"{r['core_cycles']:,}", f"{r['instret']:,}",
                  *[f"{100 * _share(r['stalls'].get(c, 0), r['core_cycles']):.1f}%" for c in causes])
    t.caption = "stall columns: share of the region's cycles summed over its cores"
    return t


def _kernel_name(row: Mapping[str, Any]) -> str:
    return f"{row['kernel']} ({row['variant']})" if row.get("variant") else str(row["kernel"])


def instruction_table(rows: list[dict[str, Any]], title: str, kernel_column: bool = False):
    """Hottest instructions (rows as instruction_rows gives, optionally with a `kernel` key)."""
    from rich.table import Table
    t = Table(title=title, title_justify="left")
    cols = (["kernel"] if kernel_column else []) + ["where", "instruction", "count", "cycles", "cyc/exec",
                                                    "share", "top stalls"]
    for col in cols:
        t.add_column(col, justify="right" if col in ("count", "cycles", "cyc/exec", "share") else "left")
    for r in rows:
        cells = ([_kernel_name(r)] if kernel_column else []) + [
            r["where"], r["text"], f"{r['count']:,}", f"{r['cycles']:,}", f"{r['per_exec']:.1f}",
            f"{100 * r['share']:.1f}%", top_stalls(r["stalls"], r["cycles"])]
        t.add_row(*cells)
    return t


def label_table(rows: list[dict[str, Any]], title: str, kernel_column: bool = False):
    from rich.table import Table
    t = Table(title=title, title_justify="left")
    for col in (["kernel"] if kernel_column else []) + ["label", "instructions", "cycles", "share", "top stalls"]:
        t.add_column(col, justify="right" if col in ("instructions", "cycles", "share") else "left")
    for r in rows:
        t.add_row(*([_kernel_name(r)] if kernel_column else []), r["label"], f"{r['count']:,}", f"{r['cycles']:,}",
                  f"{100 * r['share']:.1f}%", top_stalls(r["stalls"], r["cycles"]))
    return t


def print_profile(result: ClusterResult, console: Console | None = None, top: int = 20) -> None:
    """Regions with their stall causes, then the hottest instructions and labels of the run."""
    from rich.console import Console
    con = console or Console(stderr=True)
    prof = result.profile
    if prof is None:
        raise ValueError("the run was not profiled (Cluster(..., profile=True))")
    if result.regions:
        con.print(region_table(region_rows(result)))
    con.print(instruction_table(instruction_rows(prof, top),
                                f"hottest instructions ({prof.cycles:,} core cycles, all cores)"))
    con.print(label_table(label_rows(prof)[:top], "per label"))
