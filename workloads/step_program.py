"""The training step as ONE program for the cluster: the step compiler.

From a network, a dtype, the cluster configuration and the schedule (`Network.schedule()`), build one
controller-mode program: the cluster controller (core 8) walks the schedule; for every layer-phase
and tile (workloads.step_lower) it programs the DMA (1-D / 2-D) from L2 into TCDM buffers, forks
the tile's kernels on the workers, waits (join), and moves the results back to L2. With double
buffering (used when two copies of the per-tile buffers fit), the next tile's loads and the previous
tile's stores are issued right after the fork, so they run while the workers compute; after the
join the controller waits for them (what is left is the exposed DMA). The kernels are the library's
layer kernels built for each tile's shape, one copy per distinct (shape, buffer addresses), and the
image holds the code, the L2 tensors (input, target, weights, activations kept for the backward
pass, gradients) and their initial contents.

    sp = compile_step(net, "fp16", config)         # StepProgram: .text, .l2 (tensor table), .steps
    image = sp.image()                             # simulator Image (same as the ELF's)
    elf = sp.elf()                                 # bytes of the ELF executable
    files = sp.sources()                           # {"step.s": ..., "l2.bin": ...} for --emit-asm

Tiling that always fits: for each layer-phase the compiler tries tile counts in increasing order
(two dimensions: e.g. output rows x output channels), lowers the step for each, lays its buffers out
in the configured TCDM (below the per-core stacks) and takes the first that fits, with double
buffering if it fits, else single buffers. A step that fits as no tiling raises planner.PlanError
naming the layer, phase and bytes.

Measurement: regions. Each layer-phase's kernels run in the worker region `s<i>` (one entry per
fork: its spans give per-tile compute); on the controller, `step` spans each layer-phase,
`dma_exposed` each stretch where the workers wait for the DMA (the resident loads before the first
tile, the waits after a join, the final stores).
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mcusim.kernels_asm.dtypes import DTYPES as FLOAT
from mcusim.kernels_asm.dtypes import MEMORY_DTYPES as DTYPES
from mcusim.kernels_asm.program import Program
from mcusim.simulator import diskcache, gcpause
from mcusim.simulator.config import ClusterConfig
from mcusim.simulator.loader import Image, program_image
from mcusim.simulator.memory_map import L2_BASE, MAX_REGIONS, TCDM_BASE
from mcusim.workloads import planner
from mcusim.workloads.model import INPUT, Layer, Network, Phase, elem_bytes
from mcusim.workloads.planner import LowerError
from mcusim.isa.profiles import PROFILES
from mcusim.isa.profiles import resolve as resolve_extensions

# The compiler's own imports (the lowering, the kernel library, the assembler) are made by the
# functions that compile: running a step program from the disk cache needs none of them.
if TYPE_CHECKING:
    from mcusim.kernels_asm.kernels.harness import KernelProgram
    from mcusim.workloads.step_lower import StepCode, Xfer

LOSS = "loss"
ALIGN = 64
L2_SYMBOL = "__l2"
CTRL_REGIONS = ("step", "dma_exposed")
NP = {name: dt.np_type for name, dt in FLOAT.items()}    # numpy type of each dtype's values


@dataclass
class L2Tensor:
    name: str
    offset: int
    nbytes: int
    data: bytes | None = None


@dataclass
class BufLayout:
    name: str
    kind: str
    nbytes: int
    bank: int
    addrs: list[int]


@dataclass
class StepInfo:
    """One layer-phase of the program, as compiled."""
    index: int
    layer: str
    kind: str
    phase: str
    macs: int
    split: str
    tiles: int
    double_buffer: bool
    tcdm_bytes: int
    bytes_in: int
    bytes_out: int
    transfers: int
    region: str
    calls: list[tuple[str, str, str]]       # per fork, in order: (kernel, variant, role)
    note: str = ""
    matmuls: list[str] = field(default_factory=list)   # per fork: its matmul variants ("+"-joined; "" none)


@dataclass
class StepProgram:
    network: str
    dtype: str
    cores: int
    config: ClusterConfig
    text: str
    l2: dict[str, L2Tensor]
    l2_bytes: int
    steps: list[StepInfo]
    loss_parts: int = 1            # partial loss values (a tiled MSE), summed when read back
    cache: bool = True             # assemble through the memo and the disk cache (not for throw-away programs)
    _program: Program | None = field(default=None, repr=False)

    def blob(self) -> bytes:
        buf = bytearray(self.l2_bytes)
        for t in self.l2.values():
            if t.data is not None:
                buf[t.offset:t.offset + len(t.data)] = t.data
        return bytes(buf)

    def program(self) -> Program:
        """The assembled program with the L2 tensors' initial contents in its .l2data section."""
        if self._program is None:
            if self.cache:
                prog = assemble_cached(self.text)
            else:
                from mcusim.kernels_asm import assemble
                prog = assemble(self.text, "<step program>")
            sec = prog.section(".l2data")
            assert sec is not None and sec.size == self.l2_bytes
            end = sec.address + sec.size
            l2_end = L2_BASE + self.config.l2.size_kib * 1024
            if end > l2_end:
                code = sec.address - L2_BASE
                raise planner.PlanError(
                    f"{self.network} {self.dtype}: the step program needs {end - L2_BASE:,} B of L2 (code "
                    f"{code:,} B, tensors {self.l2_bytes:,} B); the L2 has {l2_end - L2_BASE:,} B")
            sec.data = self.blob()
            self._program = prog
        return self._program

    def l2_base(self) -> int:
        return self.program().symbol(L2_SYMBOL)

    def image(self) -> Image:
        return program_image(self.program())

    def elf(self) -> bytes:
        from mcusim.kernels_asm import to_elf
        return to_elf(self.program())

    def sources(self) -> dict[str, bytes]:
        """The program as files: step.s (its .l2data section takes l2.bin with .incbin) and l2.bin."""
        text = self.text.replace(f"\t.space {self.l2_bytes}\n", '\t.incbin "l2.bin"\n', 1)
        return {"step.s": text.encode(), "l2.bin": self.blob()}

    def tensor_address(self, name: str) -> int:
        return self.l2_base() + self.l2[name].offset


# ------------------------------------------------------------------------------------------------
# Assembling (cached in-process and on disk: the step's text is large and often the same)
# ------------------------------------------------------------------------------------------------

_MEMO: dict[str, Program] = {}


def assemble_cached(text: str) -> Program:
    """assemble(text) memoised by the text's hash (and on disk, pickled, keyed with the assembler's
    source hash so a changed assembler never reuses a stale result; simulator.diskcache)."""
    import pickle

    key = hashlib.sha256(text.encode()).hexdigest()
    if key in _MEMO:
        return _copy_program(_MEMO[key])
    name = f"step-{_tool_version()}-{key[:32]}.pkl"
    prog = diskcache.unpickle(diskcache.read(name))
    if isinstance(prog, Program):
        _MEMO[key] = prog
        return _copy_program(prog)
    from mcusim.kernels_asm import assemble
    prog = assemble(text, "<step program>")
    _MEMO[key] = prog
    if diskcache.cache_dir() is not None:
        diskcache.write(name, pickle.dumps(prog, protocol=pickle.HIGHEST_PROTOCOL))
    return _copy_program(prog)


def _copy_program(prog: Program) -> Program:
    """A copy whose sections can be given data without touching the memoised one."""
    import copy
    return Program([copy.copy(s) for s in prog.sections], prog.symbols, prog.entry, prog.line_map)


def _tool_version() -> str:
    """A hash of the assembler's and ISA table's sources (the assembly cache key's tool part)."""
    from mcusim import isa, kernels_asm
    return diskcache.source_hash(diskcache.package_root(kernels_asm), diskcache.package_root(isa))


def _source_version() -> str:
    """A hash of every source the compiled step depends on: the step compiler and the workloads,
    the kernel library and assembler, the ISA table, the simulator (configuration, loader)."""
    from mcusim import isa, kernels_asm, simulator, workloads
    return diskcache.source_hash(*(diskcache.package_root(m) for m in (workloads, kernels_asm, isa, simulator)))


# ------------------------------------------------------------------------------------------------
# L2 tensors
# ------------------------------------------------------------------------------------------------

def _act(name: str) -> str:
    return f"act:{name}"


def _grad(name: str, alias: Mapping[str, str]) -> str:
    g = f"grad:{name}"
    while g in alias:
        g = alias[g]
    return g


def todo(net: Network) -> list[tuple[Layer, Phase]]:
    """The schedule without the loss's input gradient (the loss kernel computes value and gradient)."""
    return [(lay, ph) for lay, ph in net.schedule() if not (lay.is_loss and ph is Phase.INPUT_GRAD)]


def grad_aliases(net: Network) -> dict[str, str]:
    """Residual Add backward needs no kernel: an operand whose gradient does not accumulate shares
    the Add's output-gradient tensor in L2."""
    alias: dict[str, str] = {}
    for lay, ph in todo(net):
        if lay.kind == "Add" and ph is Phase.INPUT_GRAD:
            for src, need, acc in zip(lay.inputs, lay.grad_inputs, lay.accumulate):
                if need and not acc:
                    alias[f"grad:{src}"] = _grad(lay.name, alias)
    return alias


def step_names(lay: Layer, alias: Mapping[str, str]) -> dict[str, str]:
    src = lay.inputs[0]
    names = {"x": _act(src), "y": _act(lay.name), "w": f"W:{lay.name}", "dw": f"dW:{lay.name}",
             "dy": _grad(lay.name, alias), "dx": _grad(src, alias),
             "dx_role": "inout" if (lay.accumulate and lay.accumulate[0]) else "out"}
    if len(lay.inputs) > 1:
        names["x2"] = _act(lay.inputs[1])
    if lay.kind == "Add":
        names["acc_targets"] = ",".join(_grad(i, alias) for i, need, acc in
                                        zip(lay.inputs, lay.grad_inputs, lay.accumulate) if need and acc)
    if lay.is_loss:
        names["dx"] = _grad(src, alias)
    return names


# ------------------------------------------------------------------------------------------------
# Fitting a step into the TCDM
# ------------------------------------------------------------------------------------------------

def _extents(lay: Layer, phase: Phase, cores: int) -> tuple[int, int]:
    """Units along the two split dimensions of a layer-phase (see step_lower)."""
    c, h, w = lay.in_shape
    co, ho, wo = lay.out_shape
    if phase is Phase.UPDATE:
        return max(1, -(-lay.params // (2 * cores))), 1
    if lay.is_loss:
        return (1, 1) if lay.kind == "CrossEntropy" else (max(1, -(-c * h * w // (2 * cores))), 1)
    if lay.kind == "Conv2D":
        return {Phase.FORWARD: (ho, co), Phase.WEIGHT_GRAD: (c, ho), Phase.INPUT_GRAD: (h, c)}[phase]
    if lay.kind == "PointWise":
        return -(-h * w // 2), (c if phase is Phase.INPUT_GRAD else co)
    if lay.kind == "DepthWise":
        return c, 1
    if lay.kind == "Linear":
        return (-(-c * h * w // 2) if phase is Phase.INPUT_GRAD else co), 1
    if lay.kind == "AvgPool" and lay.out_shape[1:] == (1, 1):
        return c, 1
    if lay.kind in ("ReLU", "Add"):
        return max(1, -(-c * h * w // (2 * cores))), 1
    return c, 1


def _candidates(e1: int, e2: int, prefer_second: bool) -> list[tuple[int, int]]:
    """Tile counts (t1, t2) in the order tried: fewest tiles first; among equal counts the split
    without partial sums / halos first (`prefer_second`: split the second dimension first)."""
    out = []
    for t1 in range(1, e1 + 1):
        for t2 in range(1, e2 + 1):
            out.append((t1, t2))
    out.sort(key=lambda t: (t[0] * t[1], t[0] if prefer_second else t[1], t))
    return out


@dataclass(frozen=True)
class Tiling:
    """A layer-phase's tiling: the tile counts asked for along its two split dimensions
    (step_lower.lower's t) and whether the per-tile buffers are double-buffered."""
    t1: int
    t2: int
    double: bool

    def label(self) -> str:
        return f"{self.t1}x{self.t2}" + (" 2buf" if self.double else "")


# The key of a variant plan's entry that forces a tiling ({(layer, phase): {kernel: variant, TILING: Tiling}}).
TILING = "tiling"


@dataclass
class _Fitted:
    code: StepCode
    layout: dict[str, BufLayout]
    used: int
    double: bool
    tiling: Tiling


def _layout(code: StepCode, base: int, limit: int, banks: int) -> tuple[dict[str, BufLayout], int] | None:
    """TCDM addresses of every buffer copy (64-byte lines plus the kernel tensor's bank offset). A
    buffer's size is the largest kernel tensor bound to it (every transfer stays inside it:
    _check_transfers)."""
    size: dict[str, int] = {}
    bank: dict[str, int] = {}
    copies: dict[str, int] = {}
    seen: set[tuple] = set()
    for tl in code.tiles:
        for call in tl.calls:
            key = (id(call.prog), tuple(call.bind.items()))
            if key in seen:
                continue
            seen.add(key)
            for t in call.prog.tensors:
                buf, cp = call.bind[t.name]
                size[buf] = max(size.get(buf, 0), t.nbytes)
                bank.setdefault(buf, t.bank)
                copies[buf] = max(copies.get(buf, 1), cp + 1)
    order = sorted(size, key=lambda b: ({"res": 0, "acc": 1, "tile": 2, "scratch": 3}[code.bufs.get(b, "tile")], b))
    line = 4 * banks
    addr = base
    out: dict[str, BufLayout] = {}
    for b in order:
        addrs = []
        for _ in range(copies.get(b, 1)):
            a = -(-addr // line) * line + 4 * (bank[b] % banks)
            addrs.append(a)
            addr = -(-(a + size[b]) // 4) * 4
        out[b] = BufLayout(b, code.bufs.get(b, "tile"), size[b], bank[b], addrs)
    if addr > limit:
        return None
    return out, addr - base


def _check_transfers(code: StepCode, layout: Mapping[str, BufLayout]) -> None:
    """Every transfer inside its buffer (a lowering bug otherwise, never a wrong result)."""
    for xf in code.res_loads + [x for tl in code.tiles for x in tl.loads + tl.stores]:
        b = layout.get(xf.buf)
        end = xf.buf_off + (xf.rows - 1) * xf.buf_stride + xf.length
        if b is None or end > b.nbytes:
            raise LowerError(f"{code.layer} {code.phase}: a transfer of {xf.tensor} overruns buffer {xf.buf}")


class _Fitter:
    """Lowers one layer-phase for tile counts and lays it out in the TCDM (memoised per count)."""

    def __init__(self, lay: Layer, phase: Phase, names: dict[str, str], dtype: str, cores: int,
                 variants: Mapping[str, str], config: ClusterConfig, label: str, budget: int | None) -> None:
        self.lay, self.phase, self.names, self.dtype, self.cores = lay, phase, names, dtype, cores
        self.variants, self.config, self.label = variants, config, label
        self.limit = arg_base(config) if budget is None else min(arg_base(config), TCDM_BASE + budget)
        self.e1, self.e2 = _extents(lay, phase, cores)
        self.prefer_second = lay.kind == "PointWise"
        self.memo: dict[tuple[int, int, bool], _Fitted | None] = {}
        self.smallest = 0
        ext = resolve_extensions(config.core.extensions)
        self.ext = None if ext == PROFILES["all"] else ext      # the full set: no checks to make

    def attempt(self, t1: int, t2: int, double: bool) -> _Fitted | None:
        key = (t1, t2, double)
        if key not in self.memo:
            from mcusim.kernels_asm.kernels.layer_steps import ProfileError
            from mcusim.workloads.step_lower import Ctx, StepCode, lower
            ctx = Ctx(self.dtype, self.cores, self.variants, double, self.ext, self.config.core.extensions)
            try:
                split, tiles, bufs = lower(self.lay, self.phase, self.names, (t1, t2), ctx)
            except ProfileError as exc:
                raise LowerError(f"layer {self.lay.name!r} ({self.lay.kind}) phase {self.label}: {exc}") from None
            code = StepCode(self.lay.name, self.lay.kind, self.label, 0, split, tiles, bufs)
            _hoist(code)
            dbl = double and len(tiles) > 1
            if not tiles:
                self.memo[key] = _Fitted(code, {}, 0, False, Tiling(t1, t2, False))
            else:
                banks = self.config.tcdm.banks
                res = _layout(code, TCDM_BASE, self.limit, banks)
                if res is None:
                    full = _layout(code, TCDM_BASE, 1 << 40, banks)
                    self.smallest = full[1] if full else 0
                self.memo[key] = None if res is None else _Fitted(code, res[0], res[1], dbl, Tiling(t1, t2, dbl))
        return self.memo[key]

    def fewest_first(self, t2: int, double: bool) -> _Fitted | None:
        """The fewest tiles along the first dimension that fit with `t2` along the second (doubling,
        then bisection, then a check of the result)."""
        lo, hi = 1, 1
        while hi < self.e1 and self.attempt(hi, t2, double) is None:
            lo, hi = hi + 1, min(self.e1, hi * 2)
        if self.attempt(hi, t2, double) is None:
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if self.attempt(mid, t2, double) is not None:
                hi = mid
            else:
                lo = mid + 1
        return self.attempt(hi, t2, double)

    def seconds(self) -> list[int]:
        return sorted({1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, self.e2} & set(range(1, self.e2 + 1)))

    def best(self, double: bool) -> _Fitted | None:
        """The fewest tiles over the counts along the second dimension."""
        found: _Fitted | None = None
        for t2 in self.seconds():
            if found is not None and t2 >= found.tiling.t1 * found.tiling.t2:
                break
            f = self.fewest_first(t2, double)
            if f is None:
                continue
            n = len(f.code.tiles)
            if found is None or n < len(found.code.tiles) or \
                    (n == len(found.code.tiles) and self.prefer_second and f.tiling.t1 < found.tiling.t1):
                found = f
        return found

    def default(self, double_buffer: bool, network: str) -> _Fitted:
        """The tiling with the fewest tiles that fits; double-buffered when that needs at most twice
        the tiles of single buffers. PlanError when none fits."""
        first = self.attempt(1, 1, False)
        if first is not None:
            return first
        whole = self.smallest
        single = self.best(False)
        double = self.best(True) if double_buffer else None
        if double is not None and (single is None or len(double.code.tiles) <= 2 * len(single.code.tiles)):
            return double
        if single is not None:
            return single
        raise planner.PlanError(f"{network}: layer {self.lay.name!r} ({self.lay.kind}) phase {self.label}: its "
                                f"smallest tiles need more TCDM than the {self.limit - TCDM_BASE:,} B available "
                                f"below the stacks (untiled {whole:,} B)")


def fit_step(lay: Layer, phase: Phase, names: dict[str, str], dtype: str, cores: int,
             variants: Mapping[str, str], config: ClusterConfig, double_buffer: bool,
             label: str, network: str, budget: int | None = None, tiling: Tiling | None = None) -> _Fitted:
    """The tiling with the fewest tiles whose buffers fit the TCDM below the stacks: for each count
    along the second split dimension, the fewest along the first; double-buffered when that needs
    at most twice the tiles of single buffers. `tiling` forces one (a tuned plan): PlanError when
    it does not fit."""
    fitter = _Fitter(lay, phase, names, dtype, cores, variants, config, label, budget)
    if tiling is None:
        return fitter.default(double_buffer, network)
    f = fitter.attempt(max(1, tiling.t1), max(1, tiling.t2), tiling.double)
    if f is None:
        raise planner.PlanError(f"{network}: layer {lay.name!r} ({lay.kind}) phase {label}: tiling "
                                f"{tiling.label()} needs {fitter.smallest:,} B of TCDM, "
                                f"{fitter.limit - TCDM_BASE:,} B available below the stacks")
    return f


def tiling_candidates(lay: Layer, phase: Phase, names: dict[str, str], dtype: str, cores: int,
                      variants: Mapping[str, str], config: ClusterConfig, label: str, network: str,
                      double_buffer: bool = True, budget: int | None = None, limit: int = 8) -> list[Tiling]:
    """The tilings of one layer-phase that fit the TCDM, the default (fit_step's) first, at most
    `limit`: along the second dimension 1, 2, 4 and the default's count, the fewest tiles along
    the first with single and with double buffers (the planner's frontier); then the default and
    the best double-buffered one with 2x and 4x the tiles along the first dimension, double-buffered
    (more, smaller tiles hide more of the DMA behind compute, at a cost per tile). PlanError when
    nothing fits."""
    fitter = _Fitter(lay, phase, names, dtype, cores, variants, config, label, budget)
    default = fitter.default(double_buffer, network)
    found: list[_Fitted] = [default]
    if default.code.tiles:
        for t2 in sorted({1, 2, 4, default.tiling.t2} & set(range(1, fitter.e2 + 1))):
            for double in (False, True) if double_buffer else (False,):
                f = fitter.fewest_first(t2, double)
                if f is not None:
                    found.append(f)
        bases = [default] + [f for f in found if f.double][:1]
        for base in bases if double_buffer else ():
            for k in (2, 4):
                t1 = min(fitter.e1, base.tiling.t1 * k)
                f = fitter.attempt(t1, base.tiling.t2, True)
                if f is not None:
                    found.append(f)
    out: list[Tiling] = []
    seen: set[tuple] = set()
    for f in found:
        sig = (f.code.split, len(f.code.tiles), f.double, f.used)
        if sig not in seen:
            seen.add(sig)
            out.append(f.tiling)
    return out[:limit]


def arg_base(config: ClusterConfig) -> int:
    """The argument table's TCDM address: just below the per-core stacks (buffers end below it)."""
    return TCDM_BASE + config.tcdm.size_kib * 1024 - 1024 * (config.workers + 1) - 4 * ARG_SLOTS


def _hoist(code: StepCode) -> None:
    """Loads of "res" buffers (the same in every tile) move before the first tile."""
    res = {b for b, k in code.bufs.items() if k == "res"}
    if not res or not code.tiles:
        return
    first = [x for x in code.tiles[0].loads if x.buf in res]
    for tl in code.tiles:
        mine = [x for x in tl.loads if x.buf in res]
        if mine != first:
            raise LowerError(f"{code.layer} {code.phase}: resident buffer loads differ between tiles")
        tl.loads = [x for x in tl.loads if x.buf not in res]
    code.res_loads = first


# ------------------------------------------------------------------------------------------------
# Emitting the program
# ------------------------------------------------------------------------------------------------

_IDENT_SPLIT = re.compile(r"([A-Za-z_.$][\w.$]*)")              # _IDENT, kept by re.split
_TOKEN_SPLIT = re.compile(r"(?<![\w.$])([A-Za-z_.$][\w.$]*)")   # whole symbols only
_COMMENT = re.compile(r"#.*")
_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*):", re.M)


_LI_SYM = re.compile(r"^(\s*)li\s+(\w+),\s*([A-Za-z_]\w*)(?:\s*([+-])\s*(\d+))?\s*$", re.M)
ARG_SLOTS = 64                  # tensor addresses per fork (the argument table's size in words)


class _Emitter:
    """Writes the controller's code and one copy of each kernel body. A body reads its tensors'
    addresses from the argument table (ARG_SLOTS words at a fixed TCDM address the controller fills
    before each fork): its `li rd, NAME + off` become `lui rd, %hi(slot); lw rd, %lo(slot)(rd)`
    (+ `addi rd, rd, lo`; the slot holds NAME + off - lo, lo in -2048..2047), so one body serves
    every tile and buffer copy of that shape."""

    def __init__(self, cores: int, arg_base: int) -> None:
        self.cores = cores
        self.arg = arg_base
        self.ctrl: list[str] = []
        self.kernels: list[str] = []
        self.bodies: dict[int, str] = {}
        self.slots: dict[str, list[tuple[str, int]]] = {}      # body -> its argument words
        self.stubs: dict[tuple[str, str], str] = {}
        self.table: list[int | None] = [None] * ARG_SLOTS
        self.l2_offsets: dict[str, int] = {}

    def body(self, prog: KernelProgram) -> str:
        """The shared body of `prog`: entered with a0 = core id, returns after the final barrier."""
        key = id(prog)
        name = self.bodies.get(key)
        if name is not None:
            return name
        name = f"{prog.name}_k{len(self.bodies)}"
        text = prog.source()
        pre = name + "_"
        names = {t.name for t in prog.tensors}
        slots: dict[tuple[str, int], int] = {}      # (tensor, offset rounded as %hi does) -> slot

        def indirect(m: re.Match) -> str:
            ind, rd, sym, sign, off = m.groups()
            if sym not in names:
                return m.group(0)
            value = int(off or 0) * (-1 if sign == "-" else 1)
            lo = ((value + 0x800) & 0xFFF) - 0x800
            key = (sym, value - lo)
            if key not in slots:
                slots[key] = len(slots)
                if len(slots) > ARG_SLOTS:
                    raise LowerError(f"kernel {prog.name}: needs more than {ARG_SLOTS} argument words")
            a = self.arg + 4 * slots[key]
            out = f"{ind}lui {rd}, %hi({a:#x})\n{ind}lw {rd}, %lo({a:#x})({rd})"
            return out + (f"\n{ind}addi {rd}, {rd}, {lo}" if lo else "")
        text = _LI_SYM.sub(indirect, text)
        self.bodies[key] = name
        self.slots[name] = list(slots)
        mapping = {lab: pre + lab for lab in _LABEL.findall(text)}
        head = [f"{name}:", "\taddi sp, sp, -16", "\tsw ra, 12(sp)"]
        for t in prog.tensors:
            mapping[f"{t.name}_STRIDE"] = f"{pre}{t.name}_STRIDE"
            head.append(f"\t.equ {pre}{t.name}_STRIDE, {t.stride * t.itemsize}")
        mapping["NUM_CORES"] = f"{pre}NUM_CORES"
        mapping["kernel_end"] = f"{pre}kernel_end"
        head.append(f"\t.equ {pre}NUM_CORES, {self.cores}")
        parts = _IDENT_SPLIT.split(text)          # identifiers at the odd indices
        get = mapping.get
        parts[1::2] = [get(w, w) for w in parts[1::2]]
        body = "".join(parts)
        # a tensor symbol left over (not in an li): an error, not a wrong address
        left = set(_TOKEN_SPLIT.split(_COMMENT.sub("", body))[1::2]) & names
        for t in prog.tensors:
            if t.name in left:
                raise LowerError(f"kernel {prog.name}: tensor {t.name} used other than by li")
        tail = [f"{pre}kernel_end:", "\tbarrier", "\tlw ra, 12(sp)", "\taddi sp, sp, 16", "\tret"]
        self.kernels.append(f"# {prog.name}: " + ", ".join(f"{t.name}{list(t.shape)}" for t in prog.tensors))
        self.kernels.append("\n".join(head) + "\n" + body.rstrip("\n") + "\n" + "\n".join(tail))
        return name

    def entry(self, prog: KernelProgram, region: str) -> str:
        """A worker entry that opens `region` around the shared body (forked by the controller)."""
        body = self.body(prog)
        key = (body, region)
        name = self.stubs.get(key)
        if name is None:
            name = f"e{len(self.stubs)}"
            self.stubs[key] = name
            self.kernels.append("\n".join([f"{name}:", "\taddi sp, sp, -16", "\tsw ra, 12(sp)", "\tcore_id a0",
                                            f"\tregion_begin {region}", f"\tjal ra, {body}",
                                            f"\tregion_end {region}", "\tlw ra, 12(sp)", "\taddi sp, sp, 16",
                                            "\tret"]))
        return name

    def args(self, prog: KernelProgram, base: Mapping[str, int]) -> None:
        """Controller: fill the argument table of `prog` for tensor addresses `base` (only the words
        that change)."""
        first = True
        for i, (sym, off) in enumerate(self.slots[self.body(prog)]):
            a = base[sym] + off
            if self.table[i] == a:
                continue
            if first:
                self.c(f"\tli t4, {self.arg:#x}")
                first = False
            self.c(f"\tli t3, {a:#x}", f"\tsw t3, {4 * i}(t4)")
            self.table[i] = a

    def c(self, *lines: str) -> None:
        self.ctrl.extend(lines)

    def xfer(self, x: Xfer, to_tcdm: bool, bufs: dict[str, BufLayout], copy: int) -> None:
        b = bufs[x.buf]
        cp = x.copy if x.copy is not None else (copy if b.kind == "tile" else 0)
        tcdm = b.addrs[min(cp, len(b.addrs) - 1)] + x.buf_off
        l2 = f"{L2_SYMBOL} + {self.l2_offsets[x.tensor] + x.l2_off}"
        dst, src = (f"{tcdm:#x}", l2) if to_tcdm else (l2, f"{tcdm:#x}")
        dst_stride, src_stride = (x.buf_stride, x.l2_stride) if to_tcdm else (x.l2_stride, x.buf_stride)
        self.c(f"\tli a0, {dst}", f"\tli a1, {src}", f"\tli a2, {x.length}")
        if x.rows == 1:
            self.c("\tdma_copy a0, a1, a2")
        else:
            self.c(f"\tli a3, {src_stride}", f"\tli a4, {dst_stride}", f"\tli a5, {x.rows}",
                   "\tdma_2d a3, a4, a5", "\tdma_copy_2d a0, a1, a2")


def compile_step(net: Network, dtype: str, config: ClusterConfig, cores: int = 8,
                 params: Mapping[str, np.ndarray] | None = None, x: np.ndarray | None = None,
                 target: Any = None, lr: float = 0.01, variants: Mapping[str, str] | None = None,
                 double_buffer: bool = True, budget: int | None = None,
                 variant_plan: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
                 only: Collection[tuple[str, str]] | None = None) -> StepProgram:
    """Compile one SGD step of `net` into a StepProgram (see the module docstring). `budget` caps the
    TCDM bytes the buffers may use (to force tiling on a large TCDM; default: all below the stacks).
    `variant_plan`: {(layer, phase): {kernel: variant, TILING: Tiling}} over `variants`
    (workloads.tune). `only`: the (layer, phase) pairs to compile, the others left out, with only
    the L2 tensors they touch (tune measures one layer-phase so: its span is the one it has in the
    whole step, since every layer-phase starts and ends with the DMA idle and the workers joined).

    The compiled and assembled program is cached on disk (the assembly cache's directory), keyed by
    every argument and the hash of the compiler's, kernel library's, assembler's and simulator's
    sources: generating and assembling the step's kernels takes most of a second, loading the cached
    program about 20 ms. MCUSIM_CACHE='' disables the cache."""
    import pickle

    args = (net, dtype, config, cores, params, x, target, lr, variants, double_buffer, budget, variant_plan, only)
    # one layer-phase alone (tune's many throw-away programs) stays out of the cache
    name = f"stepprog-{_step_key(*args)}.pkl" if diskcache.cache_dir() is not None and only is None else None
    if name is not None:
        sp = diskcache.unpickle(diskcache.read(name))
        if isinstance(sp, StepProgram):
            return sp
    sp = _compile_step(*args)
    if name is not None:
        try:
            sp.program()        # assembled with the program; an L2 overflow is raised by its caller as before
        except planner.PlanError:
            return sp
        diskcache.write(name, pickle.dumps(sp, protocol=pickle.HIGHEST_PROTOCOL))
    return sp


def _step_key(net: Network, dtype: str, config: ClusterConfig, cores: int, params: Any, x: Any, target: Any,
              lr: float, variants: Any, double_buffer: bool, budget: Any, variant_plan: Any, only: Any) -> str:
    """The disk cache's key of compile_step's arguments (arrays by dtype, shape and bytes)."""
    h = hashlib.sha256()

    def add(v: Any) -> None:
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            h.update(f"nd{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        elif isinstance(v, Mapping):
            h.update(b"{")
            for k in sorted(v, key=repr):
                add(k)
                add(v[k])
            h.update(b"}")
        else:
            h.update(repr(v).encode())
        h.update(b"\0")

    for v in (_source_version(), net, net.description, dtype, config, cores, params, x, target, lr, variants,
              double_buffer, budget, variant_plan, sorted(only) if only is not None else None):
        add(v)
    return h.hexdigest()[:40]


def _compile_step(net: Network, dtype: str, config: ClusterConfig, cores: int,
                  params: Mapping[str, np.ndarray] | None, x: np.ndarray | None, target: Any, lr: float,
                  variants: Mapping[str, str] | None, double_buffer: bool, budget: int | None,
                  variant_plan: Mapping[tuple[str, str], Mapping[str, Any]] | None,
                  only: Collection[tuple[str, str]] | None) -> StepProgram:
    from mcusim.workloads.step_lower import pool_vector
    es = elem_bytes(dtype)
    st = NP[dtype]
    variants = dict(variants or {})
    alias = grad_aliases(net)
    work = todo(net)
    # --- lower and fit every step
    fitted: list[tuple[Layer, Phase, str, _Fitted]] = []
    for lay, ph in work:
        if only is not None and (lay.name, ph.value) not in only:
            continue
        label = LOSS if lay.is_loss else ph.value
        names = step_names(lay, alias)
        chosen = {**variants, **(variant_plan or {}).get((lay.name, ph.value), {})}
        tiling = chosen.pop(TILING, None)
        f = fit_step(lay, ph, names, dtype, cores, chosen, config, double_buffer, label, net.name, budget, tiling)
        _check_transfers(f.code, f.layout)
        f.code.macs = lay.macs(ph) + (lay.macs(Phase.INPUT_GRAD) if lay.is_loss else 0)
        if lay.kind == "Add" and ph is Phase.INPUT_GRAD:
            f.code.note = "dY goes to both operands" + (" (plus a gradient sum)" if f.code.tiles else "")
        if lay.is_loss:
            f.code.note = "forward and gradient in one kernel"
        fitted.append((lay, ph, label, f))
    # --- L2 tensors: sizes, initial contents, live ranges (tensors whose ranges do not meet share
    # addresses: gradients and activations the backward pass no longer needs)
    sizes: dict[str, int] = {}
    data: dict[str, bytes] = {}
    first: dict[str, int] = {}
    last: dict[str, int] = {}

    def raw(a: np.ndarray) -> bytes:
        return np.ascontiguousarray(FLOAT[dtype].to_bits(np.asarray(a))).tobytes()

    def tensor(name: str, nbytes: int, content: bytes | None = None, keep: bool = False) -> None:
        sizes[name] = nbytes
        if content is not None:
            data[name] = content
        if content is not None or keep:
            first[name], last[name] = -1, len(fitted)

    x0 = FLOAT[dtype].round(np.asarray(x))
    tensor(_act(INPUT), x0.size * es, raw(x0))
    for lay in net.layers:
        if lay.is_loss:
            continue
        tensor(_act(lay.name), math.prod(lay.out_shape) * es)
        if lay.trainable:
            w = FLOAT[dtype].round(np.asarray(params[lay.name])) if params else np.zeros(lay.weight_shape, st)
            tensor(f"W:{lay.name}", w.size * es, raw(w))
            tensor(f"dW:{lay.name}", w.size * es, keep=True)          # read back after the run
        g = f"grad:{lay.name}"
        if g not in alias:
            # a one-pixel pool over part of its input leaves the rest of dX at its initial zero
            part = (lay.kind == "AvgPool" and lay.out_shape[1:] == (1, 1) and tuple(lay.kernel) != lay.in_shape[1:])
            tensor(g, math.prod(lay.out_shape) * es)
            for src in lay.inputs if part else ():
                tensor(_grad(src, alias), math.prod(net.shape_of(src)) * es, keep=True)
    if net.input_requires_grad and _grad(INPUT, alias) not in sizes:
        tensor(_grad(INPUT, alias), x0.size * es)
    loss = net.loss
    n_logits = math.prod(loss.in_shape)
    if loss.kind == "CrossEntropy":
        t = np.zeros(n_logits, st)
        t[int(target)] = 1
    else:
        t = FLOAT[dtype].round(np.asarray(target)).reshape(-1)
    tensor("target", n_logits * es, raw(t))
    loss_parts = max((len(f.code.tiles) for lay_, *_, f in fitted if lay_.is_loss), default=1)
    tensor("loss", 4 * loss_parts, keep=True)
    tensor("lr", es, raw(np.array([lr], st)))
    zero_len = 4
    for i, (*_, f) in enumerate(fitted):
        for xf in f.code.res_loads + [xf for tl in f.code.tiles for xf in tl.loads + tl.stores]:
            if xf.tensor == "zeros":
                zero_len = max(zero_len, xf.length)
            elif xf.tensor.startswith("pool:") and xf.tensor not in sizes:
                n = int(xf.tensor.split(":")[1])
                tensor(xf.tensor, n * es, raw(pool_vector(n, dtype)))
            if xf.tensor not in sizes:
                raise LowerError(f"{f.code.layer} {f.code.phase}: unknown L2 tensor {xf.tensor}")
            first[xf.tensor] = min(first.get(xf.tensor, i), i)
            last[xf.tensor] = max(last.get(xf.tensor, i), i)
    tensor("zeros", zero_len, bytes(zero_len))
    if only is not None:                     # some layer-phases: only the tensors they touch
        touched = {xf.tensor for *_, f in fitted for xf in f.code.res_loads +
                   [x for tl in f.code.tiles for x in tl.loads + tl.stores]} | {"zeros", "loss"}
        sizes = {n: v for n, v in sizes.items() if n in touched}
    for name in sizes:                       # never touched (e.g. an unused gradient): keep it apart
        first.setdefault(name, -1)
        last.setdefault(name, len(fitted))
    l2 = _allocate(sizes, data, first, last)
    l2_bytes = max((t.offset + t.nbytes for t in l2.values()), default=0)
    l2_bytes = -(-l2_bytes // ALIGN) * ALIGN
    # --- emit
    em = _Emitter(cores, arg_base(config))
    em.l2_offsets = {k: v.offset for k, v in l2.items()}
    mask = (1 << cores) - 1
    infos: list[StepInfo] = []
    shared = len(fitted) + len(CTRL_REGIONS) > MAX_REGIONS
    em.c("\t.text", "\t.globl _start", "_start:")
    for i, (lay, ph, label, f) in enumerate(fitted):
        code = f.code
        region = "kernels" if shared else f"s{i}_{re.sub(r'[^A-Za-z0-9_]', '_', lay.name)}_{ph.short}"
        bufs = f.layout
        calls_meta = [(c.kernel, c.variant, c.role) for tl in code.tiles for c in tl.calls]
        matmuls = ["+".join(dict.fromkeys(v for _, v in c.prog.meta.get("matmuls", ()))) for tl in code.tiles
                   for c in tl.calls]
        bytes_in = sum(xf.nbytes for xf in code.res_loads) + sum(xf.nbytes for tl in code.tiles for xf in tl.loads)
        bytes_out = sum(xf.nbytes for tl in code.tiles for xf in tl.stores)
        ntrans = len(code.res_loads) + sum(len(tl.loads) + len(tl.stores) for tl in code.tiles)
        infos.append(StepInfo(i, lay.name, lay.kind, label, code.macs, code.split, len(code.tiles), f.double,
                              f.used, bytes_in, bytes_out, ntrans, region, calls_meta, code.note, matmuls))
        em.c(f"# step {i}: {lay.name} {label} ({code.split}, {len(code.tiles)} tiles"
             f"{', double-buffered' if f.double else ''})", "\tregion_begin step")
        if not code.tiles:
            em.c("\tregion_end step")
            continue
        tiles = code.tiles
        em.c("\tregion_begin dma_exposed")
        for xf in code.res_loads:
            em.xfer(xf, True, bufs, 0)
        for xf in tiles[0].loads:
            em.xfer(xf, True, bufs, tiles[0].copy)
        em.c("\tdma_wait", "\tregion_end dma_exposed")
        for j, tl in enumerate(tiles):
            for k, call in enumerate(tl.calls):
                addrs = {}
                for t in call.prog.tensors:
                    bname, cp = call.bind[t.name]
                    b = bufs[bname]
                    addrs[t.name] = b.addrs[min(cp, len(b.addrs) - 1)]
                entry = em.entry(call.prog, region)
                em.args(call.prog, addrs)
                em.c(f"\tli t0, {mask}", f"\tla t1, {entry}", f"\tli t2, {em.arg:#x}", "\tfork t0, t1, t2")
                if k == 0 and f.double:
                    if j > 0:
                        for xf in tiles[j - 1].stores:
                            em.xfer(xf, False, bufs, tiles[j - 1].copy)
                    if j + 1 < len(tiles):
                        for xf in tiles[j + 1].loads:
                            em.xfer(xf, True, bufs, tiles[j + 1].copy)
                em.c("\tjoin")
            em.c("\tregion_begin dma_exposed")
            if not f.double:
                for xf in tl.stores:
                    em.xfer(xf, False, bufs, tl.copy)
                if j + 1 < len(tiles):
                    for xf in tiles[j + 1].loads:
                        em.xfer(xf, True, bufs, tiles[j + 1].copy)
            elif j == len(tiles) - 1:
                for xf in tl.stores:
                    em.xfer(xf, False, bufs, tl.copy)
            em.c("\tdma_wait", "\tregion_end dma_exposed")
        em.c("\tregion_end step")
    em.c("\tli a0, 0", "\tli a7, 93", "\tecall")
    text = "\n".join(em.ctrl) + "\n" + "\n".join(em.kernels) + "\n" + \
        f"\t.section .l2data, \"aw\"\n\t.balign {ALIGN}\n{L2_SYMBOL}:\n\t.space {l2_bytes}\n"
    return StepProgram(net.name, dtype, cores, config, text, l2, l2_bytes, infos, loss_parts)


def _allocate(sizes: Mapping[str, int], data: Mapping[str, bytes], first: Mapping[str, int],
              last: Mapping[str, int]) -> dict[str, L2Tensor]:
    """Offsets in the L2 block: largest first, each at the lowest 64-byte aligned offset that no
    tensor with an overlapping live range [first, last] occupies."""
    placed: list[L2Tensor] = []
    out: dict[str, L2Tensor] = {}
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        size = -(-max(sizes[name], 1) // ALIGN) * ALIGN
        busy = sorted((t.offset, t.offset + -(-max(t.nbytes, 1) // ALIGN) * ALIGN) for t in placed
                      if not (last[t.name] < first[name] or last[name] < first[t.name]))
        off = 0
        for a, b in busy:
            if off + size <= a:
                break
            off = max(off, b)
        t = L2Tensor(name, off, sizes[name], data.get(name))
        placed.append(t)
        out[name] = t
    return out


# ------------------------------------------------------------------------------------------------
# Running it and reading the measurements back
# ------------------------------------------------------------------------------------------------

@dataclass
class StepMeasure:
    """What the simulation measured for one layer-phase (all cycles from regions)."""
    info: StepInfo
    cycles: int                       # controller: the layer-phase's whole span
    compute: list[int]                # per fork: workers' span (first start to last end)
    exposed: int                      # controller: waits for the DMA while the workers are idle
    instret: int
    stalls: dict[str, int]
    per_core: list[dict]
    spans: dict[int, tuple[int, int]]
    start: int = 0
    dma_spans: list[tuple[int, int]] = field(default_factory=list)
    fork_spans: list[tuple[int, int]] = field(default_factory=list)
    core_spans: list[dict[int, tuple[int, int]]] = field(default_factory=list)   # per fork: core -> span
    counters: dict[int, dict] = field(default_factory=dict)        # core -> {instret, events} in the span
    fork_counters: list[dict[int, dict]] = field(default_factory=list)   # per fork: worker -> {instret, events}

    @property
    def compute_cycles(self) -> int:
        return sum(self.compute)

    @property
    def bank_cycles(self) -> int:
        """TCDM bank cycles the DMA took from the workers (their `dma_bank` stalls)."""
        return self.stalls.get("dma_bank", 0)

    @property
    def overhead(self) -> int:
        return self.cycles - self.compute_cycles - self.exposed


@dataclass
class StepRun:
    program: StepProgram
    result: Any                       # simulator.cluster.ClusterResult
    read: Callable[[int, int], bytes]
    measures: list[StepMeasure]
    dma_log: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # (start, end, src, dst, bytes)
    counters: "Counters | None" = None   # the per-core counters around layer-phases and forks

    def l2_contents(self) -> bytes:
        """The whole L2 after the run (code, tensors, everything)."""
        return self.read(L2_BASE, self.program.config.l2.size_kib * 1024)

    @property
    def cycles(self) -> int:
        return self.result.cycles

    def tensor(self, name: str, shape: tuple[int, ...], dtype: str | None = None) -> np.ndarray:
        t = self.program.l2[name]
        dtype = dtype or self.program.dtype
        dt = DTYPES[dtype]
        n = int(np.prod(shape)) if shape else 1
        raw = self.read(self.program.tensor_address(name), n * dt.itemsize)
        if dtype == "bf16":
            return FLOAT[dtype].from_bits(np.frombuffer(raw, dt)).reshape(shape)
        return np.frombuffer(raw, dt).reshape(shape).copy()

    def loss(self) -> float:
        """The loss value: the kernel's, or the sum of a tiled MSE's partial values (in tile order)."""
        parts = self.tensor("loss", (self.program.loss_parts,), "fp32")
        total = parts[0]
        for p in parts[1:]:
            total = np.float32(total + p)
        return float(total)


def measure(sp: StepProgram, result: Any, counters: "Counters | None" = None) -> list[StepMeasure]:
    """Per layer-phase measurements from the run's regions (see the module docstring), with the
    per-core counters of each layer-phase and fork when `counters` recorded them."""
    from mcusim.simulator.cluster import STALL_CAUSES
    regions = result.regions
    ctrl = 8
    steps = regions["step"].spans.get(ctrl, []) if "step" in regions else []
    waits = list(regions["dma_exposed"].spans.get(ctrl, [])) if "dma_exposed" in regions else []
    if len(steps) != len(sp.steps):
        raise RuntimeError(f"step program: {len(steps)} layer-phases ran, {len(sp.steps)} expected")
    out = []
    wi = 0
    shared_pos: dict[int, int] = {}
    for info, (s0, s1) in zip(sp.steps, steps):
        nforks = len(info.calls)
        nwaits = 0 if not nforks else 1 + info.tiles
        mine = waits[wi:wi + nwaits]
        wi += nwaits
        exposed = sum(b - a for a, b in mine)
        reg = regions.get(info.region)
        compute: list[int] = []
        fork_spans: list[tuple[int, int]] = []
        core_spans: list[dict[int, tuple[int, int]]] = []
        per_core: list[dict] = []
        stalls = dict.fromkeys(STALL_CAUSES, 0)
        instret = 0
        spans: dict[int, tuple[int, int]] = {}
        if reg is not None and nforks:
            cores = sorted(c for c in reg.spans if c != ctrl)
            for e in range(nforks):
                firsts, ends = [], []
                per: dict[int, tuple[int, int]] = {}
                for c in cores:
                    lst = reg.spans[c]
                    pos = shared_pos.get(c, 0) + e if info.region == "kernels" else e
                    if pos < len(lst):
                        firsts.append(lst[pos][0])
                        ends.append(lst[pos][1])
                        per[c] = lst[pos]
                if firsts:
                    compute.append(max(ends) - min(firsts))
                    fork_spans.append((min(firsts), max(ends)))
                    core_spans.append(per)
            if info.region == "kernels":
                for c in cores:
                    shared_pos[c] = shared_pos.get(c, 0) + nforks
            else:
                for c, v in sorted(reg.per_core.items()):
                    per_core.append({"core": c, "cycles": v["cycles"], "instret": v["instret"],
                                     "stalls": dict(v["stalls"])})
                    instret += v["instret"]
                    for k, n in v["stalls"].items():
                        stalls[k] += n
                spans = {c: (min(a for a, _ in v), max(b for _, b in v)) for c, v in sorted(reg.spans.items())}
        out.append(StepMeasure(info, s1 - s0, compute, exposed, instret, stalls, per_core, spans, s0, mine, fork_spans,
                               core_spans))
    if counters is not None:
        counters.attach(out)
    return out


class Counters:
    """Each core's counters (instret and the events of simulator.cluster.EVENTS, the energy model's
    inputs) taken at the controller's layer-phase boundaries (region `step`) and around every fork
    on the workers (their worker region), so the energy of a layer-phase and of a kernel is computed
    from what was counted during it. Installed on a cluster before its run (`install`)."""

    def __init__(self) -> None:
        self.phase_marks: list[dict[int, tuple[int, dict[str, int]]]] = []   # begin, end, begin, ...
        self.fork_deltas: dict[int, list[dict]] = {}                         # worker -> per fork, in order
        self._open: dict[int, tuple[int, dict[str, int]]] = {}

    @staticmethod
    def _now(core: Any) -> tuple[int, dict[str, int]]:
        return core.hart.instret, dict(core.events)

    def install(self, cluster: Any) -> None:
        ctrl = 8

        def mark(core, name, begin):
            if core.id == ctrl:
                if name == "step":
                    self.phase_marks.append({c.id: self._now(c) for c in cluster.cores})
            elif name not in CTRL_REGIONS:
                if begin:
                    self._open[core.id] = self._now(core)
                else:
                    i0, e0 = self._open.pop(core.id)
                    i1, e1 = self._now(core)
                    self.fork_deltas.setdefault(core.id, []).append(
                        {"instret": i1 - i0, "events": {k: e1[k] - e0[k] for k in e1}})
        cluster.region_hooks.append(mark)

    def attach(self, measures: list[StepMeasure]) -> None:
        """Give each measure its layer-phase's and forks' counter deltas."""
        fork = 0
        for i, m in enumerate(measures):
            if 2 * i + 1 < len(self.phase_marks):
                a, b = self.phase_marks[2 * i], self.phase_marks[2 * i + 1]
                m.counters = {c: {"instret": b[c][0] - a[c][0],
                                  "events": {k: b[c][1][k] - a[c][1][k] for k in b[c][1]}} for c in b}
            for _ in m.info.calls:
                m.fork_counters.append({c: lst[fork] for c, lst in self.fork_deltas.items() if fork < len(lst)})
                fork += 1


def run_step_program(sp: StepProgram, engine: str = "c", profile: bool = False,
                     on_region: Callable[[int, int], None] | None = None) -> StepRun:
    """Simulate the step program once in controller mode on its configuration."""
    from mcusim.simulator.cluster import Cluster
    cluster = Cluster(sp.image(), sp.config, cores=sp.cores, engine=engine, profile=profile, controller=True,
                      cache_code=sp.cache)
    if on_region is not None:
        _hook_progress(cluster, on_region, len(sp.steps))
    counters = Counters()
    counters.install(cluster)
    gcpause.resume()
    result = cluster.run()
    if result.exit_code != 0:
        raise RuntimeError(f"step program exited with code {result.exit_code} ({result.reason})")
    return StepRun(sp, result, cluster.memory.read_bytes, measure(sp, result, counters), list(cluster.dma.log),
                   counters)


def _hook_progress(cluster: Any, cb: Callable[[int, int], None], total: int) -> None:
    """Call cb(done, total) each time the controller begins a layer-phase (region `step`)."""
    orig = cluster.region_event
    state = {"n": 0}

    def event(core, region_id, begin):
        orig(core, region_id, begin)
        if core.id == 8 and not begin and cluster.region_names.get(region_id) == "step":
            state["n"] += 1
            cb(state["n"], total)
    cluster.region_event = event


def format_plan(sp: StepProgram) -> str:
    """The step program's tiling as text (`mcusim train --plan`): one line per layer-phase."""
    budget = sp.config.tcdm.size_kib * 1024 - 1024 * (sp.config.workers + 1)
    lines = [f"step program {sp.network} {sp.dtype}: TCDM {sp.config.tcdm.size_kib} KiB - "
             f"{sp.config.workers + 1} KiB stacks = {budget:,} B for buffers; L2 tensors {sp.l2_bytes:,} B",
             f"{'layer':<16} {'phase':<11} {'MACs':>10} {'tiles':>5} {'split':<28} {'TCDM':>8} {'DMA in':>9} "
             f"{'DMA out':>9} {'kernels'}"]
    for s in sp.steps:
        kern = ",".join(dict.fromkeys(k for k, _, _ in s.calls)) or "-"
        lines.append(f"{s.layer:<16} {s.phase:<11} {s.macs:>10,} {s.tiles:>5} "
                     f"{(s.split + (' 2buf' if s.double_buffer else '')):<28} {s.tcdm_bytes:>8,} "
                     f"{s.bytes_in:>9,} {s.bytes_out:>9,} {kern}")
    tiled = [s for s in sp.steps if s.tiles > 1]
    lines.append(f"{len(sp.steps)} layer-phases, {len(tiled)} tiled; DMA in {sum(s.bytes_in for s in sp.steps):,} B, "
                 f"out {sum(s.bytes_out for s in sp.steps):,} B")
    return "\n".join(lines)
