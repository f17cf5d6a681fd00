"""Run a generated kernel on the cluster: lay out tensors in the TCDM, wrap the kernel body into a
complete SPMD program, simulate, read the outputs back as numpy arrays.

API (stable; the transform and layer kernels use it too):

    from mcusim.kernels_asm.kernels.harness import Tensor, KernelProgram, run_kernel, simulate

    prog = KernelProgram(
        name="matmul",                         # region name in the report (letters, digits, _ . $ -)
        body=builder,                          # a Builder (or assembly text) holding the kernel body
        tensors=[Tensor("A", (m, k), "fp32"),  # inputs get their data at run time
                 Tensor("C", (m, n), "fp32", role="output", row_stride=n + 1)])
    run = run_kernel(prog, {"A": a}, cores=8, config=load_config())
    run.cycles, run.instret, run.per_core, run.outputs["C"], run.result
    run_kernel(..., profile=True).profile   # simulator.profile.Profile: per pc, with the labels

Tensors
  dtype "fp32" (float32), "fp16" (IEEE half, stored as raw 16-bit words; numpy float16 in and out),
  "bf16" (bfloat16 words; numpy float32 holding bfloat16 values in and out, see kernels_asm.dtypes),
  "int32", "int16", "int8". A tensor is stored row by row: the last axis is a row, the leading axes are
  flattened into rows; `row_stride` (in elements, default shape[-1]) is the distance between rows, so
  a kernel can pad rows to avoid systematic TCDM bank conflicts (`padded_stride` suggests one).
  `role` is "input" (data required), "output" (read back after the run) or "scratch" (neither).
  Unused padding and outputs are zero before the run.

Layout (`layout`): tensors are placed in the TCDM from 0x10000000 in the order given, each starting
at a 4-byte aligned address whose bank is `Tensor.bank` (default: the next 64-byte boundary, bank 0,
plus `Tensor.bank` words when given). The top (workers + 1) KiB stay free for the per-core stacks;
a layout that does not fit raises HarnessError. Tensor data goes into the program image as extra
segments (so any engine that loads the image gets it); nothing is copied by simulated code.

Addresses reach the kernel as assembler symbols, defined with `.equ` before the body:
  NAME          the tensor's base address
  NAME_STRIDE   its row stride in bytes
  NUM_CORES     the number of cores running the kernel
so a body writes `li a1, A` or `addi a1, a1, A_STRIDE`. Tensor names must be identifiers that
are not register names.

Program (`wrap`): `_start: core_id a0; region_begin NAME; <body>; kernel_end: barrier;
region_end NAME; exit(0)`. The body starts on every core with a0 = core id (0..cores-1), may
clobber every register except sp (1 KiB of stack per core), and ends by falling through or by
jumping to `kernel_end`. It splits the work itself (by core id) and needs no final barrier: the
wrapper's barrier is inside the region, so the region's cycles include the load imbalance.

Simulation: `simulate(image, config, cores, engine, profile)` is the only function that runs a
simulator (simulator.cluster.Cluster; engine "c" is the compiled loop, "py" the reference).
`run_kernel` returns a `KernelRun`: cycles of the kernel region (max over cores), total cycles of
the run, instructions (region, all cores), per-core region counters with the stall breakdown, the
outputs, the raw ClusterResult, each core's region span (first and end cycle) and, with
`profile=True`, the per-instruction profile of the whole program run (wrapper included: the code
before the region is labelled `_start`, the final barrier and exit `kernel_end`), named after the
program, with its labels (simulator.profile).
"""
from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from mcusim.kernels_asm import Builder, Program, assemble
from mcusim.kernels_asm.dtypes import DTYPES as FLOAT_DTYPES
from mcusim.kernels_asm.dtypes import MEMORY_DTYPES
from mcusim.kernels_asm.kernels.errors import HarnessError
from mcusim.simulator import gcpause
from mcusim.simulator.cluster import STALL_CAUSES, Cluster, ClusterResult
from mcusim.simulator.config import ClusterConfig
from mcusim.simulator.loader import Image, Segment, program_image
from mcusim.simulator.memory_map import L2_BASE, TCDM_BASE
from mcusim.simulator.profile import Profile

DTYPES: dict[str, np.dtype] = MEMORY_DTYPES
BF16 = FLOAT_DTYPES["bf16"]
ENGINES = ("c", "py")
Watch = Callable[[Cluster], contextlib.AbstractContextManager]    # see simulate
_REGISTERS = re.compile(r"(x\d+|f\d+|zero|ra|sp|gp|tp|fp|t[0-6]|s\d+|a[0-7]|f[tsa]\d+)")


@dataclass
class Tensor:
    """One named tensor in the TCDM (see the module docstring)."""
    name: str
    shape: tuple[int, ...]
    dtype: str
    role: str = "input"                 # input | output | scratch
    row_stride: int | None = None       # elements between rows; default shape[-1]
    bank: int = 0                       # bank (word offset in a 64-byte line) of the first element

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype].itemsize

    @property
    def rows(self) -> int:
        return int(math.prod(self.shape[:-1])) if len(self.shape) > 1 else 1

    @property
    def cols(self) -> int:
        return int(self.shape[-1]) if self.shape else 1

    @property
    def stride(self) -> int:
        """Row stride in elements."""
        return self.cols if self.row_stride is None else self.row_stride

    @property
    def nbytes(self) -> int:
        """Bytes from the base to the end of the last row (padding after it is not stored)."""
        return ((self.rows - 1) * self.stride + self.cols) * self.itemsize


@dataclass
class KernelProgram:
    """A kernel body plus the tensors it uses; `meta` is free-form (generators record choices)."""
    name: str
    body: Builder | str
    tensors: list[Tensor]
    meta: dict = field(default_factory=dict)

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def source(self) -> str:
        """The kernel body as assembly text."""
        return self.body.source() if isinstance(self.body, Builder) else str(self.body)


@dataclass
class Simulation:
    """What `simulate` returns: the run's counters and a way to read memory after it."""
    result: ClusterResult
    read: Callable[[int, int], bytes]      # (address, size) -> bytes


@dataclass
class KernelRun:
    name: str
    cores: int
    cycles: int                  # kernel region, max over cores
    total_cycles: int            # the whole run (start-up, region, exit)
    instret: int                 # kernel region, all cores
    total_instret: int
    per_core: list[dict]         # {core, cycles, instret, stalls{cause: cycles}} over the region
    outputs: dict[str, np.ndarray]
    addresses: dict[str, int]
    result: ClusterResult
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # core -> region (first, end) cycle
    profile: Profile | None = None
    dma_in_cycles: int = 0       # dma=True: the controller's DMA of the inputs (L2 -> TCDM), and
    dma_out_cycles: int = 0      # of the outputs back (TCDM -> L2), both simulated

    def stalls(self) -> dict[str, int]:
        """Region stall cycles summed over the cores."""
        return {c: sum(p["stalls"][c] for p in self.per_core) for c in STALL_CAUSES}


def padded_stride(cols: int, dtype: str, banks: int = 16) -> int:
    """A row stride (elements) >= cols whose length in words is odd, so that consecutive rows start
    in different banks (a 2^k-word stride puts every row's element j in the same bank)."""
    size = DTYPES[dtype].itemsize
    per_word = max(4 // size, 1)
    words = -(-cols * size // 4)
    if banks > 1 and words % 2 == 0:
        words += 1
    return max(words * per_word, cols)


def layout(tensors: list[Tensor], config: ClusterConfig) -> dict[str, int]:
    """Base address of each tensor (see the module docstring)."""
    line = 4 * config.tcdm.banks
    top = TCDM_BASE + config.tcdm.size_kib * 1024 - 1024 * (config.workers + 1)
    addr = TCDM_BASE
    out: dict[str, int] = {}
    for t in tensors:
        if t.dtype not in DTYPES:
            raise HarnessError(f"tensor {t.name}: unknown dtype {t.dtype!r} (known: {', '.join(DTYPES)})")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t.name) or _REGISTERS.fullmatch(t.name):
            raise HarnessError(f"tensor name {t.name!r} is not a usable symbol")
        if t.name in out:
            raise HarnessError(f"two tensors named {t.name}")
        if t.stride < t.cols or any(d <= 0 for d in t.shape):
            raise HarnessError(f"tensor {t.name}: bad shape {t.shape} / row stride {t.stride}")
        base = -(-addr // line) * line + 4 * (t.bank % config.tcdm.banks)
        out[t.name] = base
        addr = base + t.nbytes
        addr = -(-addr // 4) * 4
    if addr > top:
        raise HarnessError(f"tensors need {addr - TCDM_BASE:,} bytes; the TCDM has "
                           f"{top - TCDM_BASE:,} free below the stacks")
    return out


def _raw(t: Tensor, data: np.ndarray) -> bytes:
    """Tensor contents, row-padded, little-endian."""
    arr = np.asarray(data)
    if t.dtype == "fp16" and arr.dtype == np.uint16:
        arr = arr.view(np.float16)
    if arr.shape != tuple(t.shape):
        raise HarnessError(f"tensor {t.name}: data shape {arr.shape} != {tuple(t.shape)}")
    if t.dtype == "bf16" and arr.dtype != np.uint16:     # values -> bfloat16 words
        arr = BF16.to_bits(arr)
    arr = arr.astype(DTYPES[t.dtype], copy=False).reshape(t.rows, t.cols)
    if t.stride != t.cols:
        padded = np.zeros((t.rows, t.stride), DTYPES[t.dtype])
        padded[:, :t.cols] = arr
        arr = padded
    return arr.tobytes()[:t.nbytes]


def _read(t: Tensor, raw: bytes) -> np.ndarray:
    dt = DTYPES[t.dtype]
    full = raw + bytes(t.rows * t.stride * t.itemsize - len(raw))
    arr = np.frombuffer(full, dt).reshape(t.rows, t.stride)[:, :t.cols]
    if t.dtype == "bf16":
        return BF16.from_bits(arr).reshape(t.shape)
    return arr.reshape(t.shape).copy()


def wrap(program: KernelProgram, addresses: Mapping[str, int], cores: int) -> str:
    """The complete SPMD program text around the kernel body."""
    body = program.source()
    head = ["\t.text", "\t.globl _start", f"\t.equ NUM_CORES, {cores}"]
    for t in program.tensors:
        head.append(f"\t.equ {t.name}, {addresses[t.name]:#x}")
        head.append(f"\t.equ {t.name}_STRIDE, {t.stride * t.itemsize}")
    head += ["_start:", "\tcore_id a0", f"\tregion_begin {program.name}"]
    tail = ["kernel_end:", "\tbarrier", f"\tregion_end {program.name}",
            "\tli a0, 0", "\tli a7, 93", "\tecall"]
    return "\n".join(head) + "\n" + body + "\n".join(tail) + "\n"


L2_TENSORS = L2_BASE + 0x8_0000     # L2 copies of the tensors in DMA mode (code and data stay below)


def l2_layout(program: KernelProgram, config: ClusterConfig,
              preset: Collection[str] = ()) -> dict[str, int] | None:
    """L2 addresses for DMA mode of the tensors that move: inputs, outputs, and any tensor given
    initial contents (`preset`); None when they do not fit in L2."""
    out, addr = {}, L2_TENSORS
    for t in program.tensors:
        if t.role in ("input", "output") or t.name in preset:
            out[t.name] = addr
            addr += -(-t.nbytes // 64) * 64
    return out if addr <= L2_BASE + config.l2.size_kib * 1024 else None


def wrap_dma(program: KernelProgram, addresses: Mapping[str, int], l2: Mapping[str, int], cores: int,
             preset: Collection[str] = ()) -> str:
    """Controller-mode program: the cluster controller (core 8) moves the inputs (and any tensor
    with initial contents, `preset`) from L2 to the TCDM with the DMA, dispatches the kernel body to
    the workers (fork/join), and moves the outputs back."""
    body = program.source()
    head = ["\t.text", "\t.globl _start", f"\t.equ NUM_CORES, {cores}"]
    for t in program.tensors:
        head.append(f"\t.equ {t.name}, {addresses[t.name]:#x}")
        head.append(f"\t.equ {t.name}_STRIDE, {t.stride * t.itemsize}")

    def copies(to_tcdm: bool) -> list[str]:
        lines = []
        for t in program.tensors:
            moves = (t.name in l2 and t.role != "output") if to_tcdm else t.role == "output"
            preset_output = to_tcdm and t.role == "output" and t.name in preset
            if moves or preset_output:
                dst, src = (addresses[t.name], l2[t.name]) if to_tcdm else (l2[t.name], addresses[t.name])
                lines += [f"\tli a0, {dst:#x}", f"\tli a1, {src:#x}", f"\tli a2, {t.nbytes}",
                          "\tdma_copy a0, a1, a2"]
        return lines + ["\tdma_wait"]
    controller = ["_start:", "\tregion_begin dma_in", *copies(True), "\tregion_end dma_in",
                  f"\tli t0, {(1 << cores) - 1}", "\tla t1, __kernel_worker", "\tli t2, 0",
                  "\tfork t0, t1, t2", "\tjoin",
                  "\tregion_begin dma_out", *copies(False), "\tregion_end dma_out",
                  "\tli a0, 0", "\tli a7, 93", "\tecall"]
    worker = ["__kernel_worker:", "\taddi sp, sp, -16", "\tsw ra, 12(sp)", "\tcore_id a0",
              f"\tregion_begin {program.name}"]
    tail = ["kernel_end:", "\tbarrier", f"\tregion_end {program.name}", "\tlw ra, 12(sp)",
            "\taddi sp, sp, 16", "\tret"]
    return "\n".join(head + controller + worker) + "\n" + body + "\n".join(tail) + "\n"


@functools.lru_cache(maxsize=128)
def _assembled(text: str, name: str) -> Program:
    """A wrapped program, assembled. Cached: a training step runs the same program text for layers
    of the same shape (ReLUs, repeated convolutions). Its image is built from it directly
    (`program_image`, the same Image as writing and reading back its ELF)."""
    return assemble(text, f"<kernel {name}>")


def build_image(program: KernelProgram, inputs: Mapping[str, np.ndarray], cores: int,
                config: ClusterConfig, l2: Mapping[str, int] | None = None) -> tuple[Image, dict[str, int]]:
    """Assemble the wrapped program and add the tensors' initial contents as image segments."""
    addresses = layout(program.tensors, config)
    names = {t.name for t in program.tensors}
    unknown = set(inputs) - names
    if unknown:
        raise HarnessError(f"inputs for unknown tensors: {', '.join(sorted(unknown))}")
    text = wrap(program, addresses, cores) if l2 is None else wrap_dma(program, addresses, l2, cores, set(inputs))
    image = program_image(_assembled(text, program.name))
    for t in program.tensors:
        if t.role == "input":
            if t.name not in inputs:
                raise HarnessError(f"no data for input tensor {t.name}")
            data = _raw(t, inputs[t.name])
        elif t.name in inputs:
            data = _raw(t, inputs[t.name])
        else:
            continue
        # DMA mode: the data starts in L2; the program's DMA puts it in the TCDM
        where = addresses[t.name] if l2 is None or t.name not in l2 else l2[t.name]
        image.segments.append(Segment(where, data, len(data), False))
    return image, addresses


def simulate(image: Image, config: ClusterConfig, cores: int, engine: str = "py",
             profile: bool = False, controller: bool = False, watch: Watch | None = None) -> Simulation:
    """Run `image` SPMD on `cores` workers: the one place that calls a simulation engine. `watch`, given
    the cluster, returns a context manager the run happens in (the command line's progress display)."""
    if engine not in ENGINES:
        raise HarnessError(f"unknown engine {engine!r} (available: {', '.join(ENGINES)})")
    # "c" falls back to "py" if not built
    cluster = Cluster(image, config, cores=cores, engine=engine, profile=profile, controller=controller)
    gcpause.resume()
    with watch(cluster) if watch is not None else contextlib.nullcontext():
        result = cluster.run()
    return Simulation(result, cluster.memory.read_bytes)


def run_kernel(program: KernelProgram, inputs: Mapping[str, np.ndarray], cores: int,
               config: ClusterConfig, engine: str = "py", profile: bool = False, dma: bool = False,
               watch: Watch | None = None) -> KernelRun:
    """Lay out, wrap, simulate and read back `program` (see the module docstring). With `dma`, the
    tensors start in L2 and the cluster controller moves them with the DMA (`wrap_dma`); raises
    HarnessError when they do not fit in L2."""
    if not 1 <= cores <= config.workers:
        raise HarnessError(f"cores must be 1..{config.workers}, not {cores}")
    l2 = None
    if dma:
        l2 = l2_layout(program, config, set(inputs))
        if l2 is None:
            raise HarnessError(f"kernel {program.name}: its tensors do not fit in L2 above {L2_TENSORS:#x}")
    image, addresses = build_image(program, inputs, cores, config, l2)
    sim = simulate(image, config, cores, engine, profile, controller=dma, watch=watch)
    result = sim.result
    if result.exit_code != 0:
        raise HarnessError(f"kernel {program.name} exited with code {result.exit_code} ({result.reason})")
    region = result.regions.get(program.name)
    if region is None:
        raise HarnessError(f"kernel {program.name}: region marker missing from the run")
    per_core = [{"core": c, "cycles": v["cycles"], "instret": v["instret"], "stalls": dict(v["stalls"])}
                for c, v in sorted(region.per_core.items())]
    outputs = {t.name: _read(t, sim.read(addresses[t.name] if l2 is None else l2[t.name], t.nbytes))
               for t in program.tensors if t.role == "output"}
    spans = {c: (min(s[0] for s in v), max(s[1] for s in v)) for c, v in sorted(region.spans.items())}
    if result.profile is not None:
        result.profile.name = program.name
    dma_cycles = {name: result.regions[name].per_core[8]["cycles"] if name in result.regions else 0
                  for name in ("dma_in", "dma_out")} if dma else {"dma_in": 0, "dma_out": 0}
    return KernelRun(program.name, cores, max(p["cycles"] for p in per_core if p["core"] != 8), result.cycles,
                     sum(p["instret"] for p in per_core), result.instret, per_core, outputs,
                     addresses, result, spans, result.profile, dma_cycles["dma_in"], dma_cycles["dma_out"])
