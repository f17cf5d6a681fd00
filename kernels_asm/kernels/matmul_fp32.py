"""Matrix-multiplication generators: the common framework and the FP32 micro-kernels.

C (m x n) = A (m x k) · B (k x n), or A · Bᵀ when B is stored transposed (n x k); all row-major with
row strides in bytes (`Operand`). `emit_matmul(b, spec, family, R, W, U)` appends the code for every
core to a Builder; it reads the core id itself (`core_id`), so a layer can emit several matmuls
(separated by barriers) in one program. It clobbers every register except sp.

Work split (`spec.split`):
- "rows": each core takes ceil(m / cores) consecutive rows of C (PULP-TrainLib's split);
- "cols": each core takes ceil(n / cores) consecutive columns (rounded up to the family's column
  alignment), for C with fewer rows than cores (one row: vector x matrix).

Register blocking: a micro-kernel computes an R x W block of C with R*W accumulators held in f
registers. Per k step it loads R values of A and W values (or W/2 vectors) of B, then issues R*W
multiply-accumulates. The k loop is a hardware loop (lp.setup, level 0) unrolled U times; the
column blocks of a row block are a level-1 hardware loop; rows are a plain loop. Leftovers: columns
that do not fill a W-wide block are done by R x w blocks for the next smaller width of the family's
cascade (down to 1), rows that do not fill an R-row block one row at a time, k steps that do not
fill an unrolled iteration as straight-line code after the loop. So every shape works, including 1,
odd and prime sizes.

Addressing: FP loads have no post-increment form, so each stream (A rows, B) gets as few pointer
registers as the 12-bit load offsets allow (offsets from -2048 to 2047 around each pointer), and
each pointer advances by one addi per loop iteration. The loop body is list-scheduled: a loaded
register or an FPU result is not used by the very next instruction (load-use and FPU-latency
stalls), and registers of the next unrolled step are renamed when enough f registers are free.

FP32 family ("f32"): flw + fmadd.s (one rounding per multiply-accumulate), stores with fsw.
The FP16 families are in matmul_fp16.py; the registry entries for `matmul` and `matmul_bt` too.
"""
from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import count, cycle

from mcusim.kernels_asm import Builder

_ids = count()

IMM_MIN, IMM_MAX = -2048, 2047
# Integer registers the generator may use (sp is left alone; the rest are clobbered).
X_REGION = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "gp", "tp"]
X_BLOCK = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "ra",
           "a0"]


@dataclass(frozen=True)
class Operand:
    """A matrix in memory: the assembler symbol (or expression) of its base and its row stride."""
    symbol: str
    stride: int            # bytes between rows


@dataclass(frozen=True)
class MatmulSpec:
    m: int
    n: int
    k: int
    a: Operand             # m x k
    b: Operand             # k x n, or n x k when bt
    c: Operand             # m x n
    bt: bool = False
    cores: int = 1
    split: str = "rows"    # rows | cols


# --- operations and scheduling ----------------------------------------------------------------------

@dataclass(frozen=True)
class Mem:
    stream: str            # "a" | "b" | "c"
    offset: int            # bytes from the stream's block base at this k step


@dataclass
class Op:
    mnem: str
    args: tuple            # registers (str), immediates (int) or one Mem
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    kind: str              # load | store | fp | alu

    def text(self) -> str:
        return f"{self.mnem} " + ", ".join(str(a) for a in self.args)


def load(mnem: str, dst: str, stream: str, offset: int) -> Op:
    return Op(mnem, (dst, Mem(stream, offset)), (dst,), (), "load")


def store(mnem: str, src: str, stream: str, offset: int) -> Op:
    return Op(mnem, (src, Mem(stream, offset)), (), (src,), "store")


def fp(mnem: str, dst: str, *srcs: str, acc: bool = False, reads_dst: bool = False) -> Op:
    """An FP operation `mnem dst, srcs...`; reads_dst for instructions that accumulate into dst."""
    reads = tuple(srcs) + ((dst,) if reads_dst else ())
    return Op(mnem, (dst, *srcs), (dst,), reads, "fp")


# latency: the consumer may issue this many slots after the producer without stalling
_LATENCY = {"load": 2, "fp": 2, "alu": 1, "store": 1}


Shape = tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]   # (kind, writes, reads) of each op


def _shape(ops: list[Op]) -> Shape:
    """What scheduling and stall counting look at: the ops' kinds and registers (not immediates)."""
    return tuple((op.kind, op.writes, op.reads) for op in ops)


def schedule(ops: list[Op]) -> list[Op]:
    """Greedy list scheduling that keeps program-order dependencies (RAW with the producer's latency,
    WAR, WAW) and otherwise prefers program order; fills load-use and FPU-latency gaps."""
    return [ops[j] for j in _schedule_order(_shape(ops))]


@lru_cache(maxsize=4096)
def _schedule_order(shape: Shape) -> tuple[int, ...]:
    """The issue order of `schedule`, as op indices; cached: blocks of one shape in matmuls of other
    sizes and strides differ only in immediates."""
    n = len(shape)
    deps: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    last_write: dict[str, int] = {}
    reads_since: dict[str, list[int]] = {}
    for j, (_, writes, reads) in enumerate(shape):
        for r in reads:
            if r in last_write:
                i = last_write[r]
                deps[j].append((i, _LATENCY[shape[i][0]]))
        for w in writes:
            for i in reads_since.get(w, []):
                if i != j:
                    deps[j].append((i, 1))
            if w in last_write:
                deps[j].append((last_write[w], 1))
        for r in reads:
            reads_since.setdefault(r, []).append(j)
        for w in writes:
            last_write[w] = j
            reads_since[w] = []
    # An op becomes a candidate once all its predecessors are placed; its earliest slot is then
    # fixed. Each slot takes the first candidate (program order) that can issue without stalling,
    # else the one that can issue soonest (the first of those).
    successors: list[list[int]] = [[] for _ in range(n)]
    for j, dj in enumerate(deps):
        for i, _ in dj:
            successors[i].append(j)
    waiting = [len(dj) for dj in deps]
    when = [-1] * n
    candidates: list[tuple[int, int]] = [(j, 0) for j in range(n) if not deps[j]]   # (op, earliest)
    order: list[int] = []
    t = 0
    while candidates:
        pick = None
        for c, (j, est) in enumerate(candidates):
            if est <= t:
                pick = c
                break
            if pick is None or est < candidates[pick][1]:
                pick = c
        best, best_est = candidates.pop(pick)
        t = max(t, best_est)
        when[best] = t
        order.append(best)
        t += 1
        for j in successors[best]:
            waiting[j] -= 1
            if not waiting[j]:
                insort(candidates, (j, max(when[i] + lat for i, lat in deps[j])))
    return tuple(order)


def stall_slots(ops: list[Op], loop: bool = False) -> int:
    """Stall cycles of `ops` issued in this order (load-use and FPU latency), optionally counting the
    dependencies that wrap around a loop back-edge."""
    return _stall_slots(_shape(ops), loop)


@lru_cache(maxsize=4096)
def _stall_slots(ops: Shape, loop: bool) -> int:
    ready: dict[str, int] = {}
    t = 0
    seq = ops + ops if loop else ops
    first = 0
    for idx, (kind, writes, reads) in enumerate(seq):
        start = max([t] + [ready.get(r, 0) for r in reads])
        if idx == len(ops):
            first = start
        t = start + 1
        for w in writes:
            ready[w] = t - 1 + _LATENCY[kind]
    if loop:
        return (t - first) - len(ops)
    return t - len(ops)


# --- pointers for the streams ------------------------------------------------------------------------

@dataclass
class Pointers:
    """Pointer registers of one stream: each covers a cluster of byte offsets within the 12-bit range."""
    bases: list[int]                  # offset of each pointer from the stream's block base
    regs: list[str]

    def resolve(self, offset: int) -> tuple[str, int]:
        for base, reg in zip(self.bases, self.regs):
            if IMM_MIN <= offset - base <= IMM_MAX:
                return reg, offset - base
        raise AssertionError(f"offset {offset} not covered")


def cluster_offsets(offsets: list[int]) -> list[int]:
    """Pointer bases covering every offset with a 12-bit displacement, greedily from the lowest."""
    bases: list[int] = []
    pending = sorted(set(offsets))
    if pending and pending[0] >= IMM_MIN and pending[-1] <= IMM_MAX:
        return [0]
    while pending:
        lo = pending[0]
        base = lo - IMM_MIN
        bases.append(base)
        pending = [o for o in pending if o - base > IMM_MAX]
    return bases


# --- micro-kernel families ---------------------------------------------------------------------------

@dataclass
class Step:
    """One k step of an R x W block: loads (program order) and compute ops; offsets are for u = 0."""
    loads: list[tuple[str, str, str, int]]     # (mnemonic, operand name, stream, offset)
    computes: list[tuple[str, str, tuple[str, ...]]]   # (mnemonic, accumulator name, operand names)


class Family:
    """How a dtype / instruction choice computes an R x W block (see the FP32 family below)."""
    name = ""
    ksize = 1              # k elements per step
    a_elem = 4             # bytes of one A element
    b_elem = 4
    c_elem = 4
    col_align = 1          # column split chunks are multiples of this (vector stores need 2)
    layouts = ("b", "bt")
    instr = ""             # the multiply-accumulate instruction, for reports
    # an instruction applied in place after each scalar (flh) load: bfloat16 has no expanding
    # multiply-accumulate (no fmacex.s.ah), so its scalar steps widen operands with the exact
    # fcvt.s.ah and use fmadd.s, which rounds once as fmacex would
    widen: str | None = None

    def word_aligned(self, spec: MatmulSpec) -> tuple[str, ...]:
        """Operands whose rows are read or written as 32-bit words (stride must be a multiple of 4;
        their base addresses must be word-aligned too)."""
        return ("a", "b", "c") if self.c_elem == 4 else ()

    def widths(self, w: int) -> list[int]:
        """Column-width cascade of a W-wide variant (leftover columns use the smaller widths)."""
        return [w, 1] if w > 1 else [1]

    def accs(self, r: int, w: int) -> list[str]:
        return [f"c{i}_{j}" for i in range(r) for j in range(w)]

    def step(self, r: int, w: int, spec: MatmulSpec, single: bool = False) -> Step:
        raise NotImplementedError

    def adv(self, spec: MatmulSpec) -> tuple[int, int]:
        """Bytes the A and B stream bases advance per k step."""
        a = self.a_elem * self.ksize
        b = self.b_elem * self.ksize if spec.bt else spec.b.stride * self.ksize
        return a, b

    def init(self, acc: str, w: int) -> Op:
        return Op("fmv.w.x", (acc, "zero"), (acc,), (), "fp")

    def store(self, r: int, w: int, spec: MatmulSpec, reg: Callable[[str], str],
              temp: Callable[[], str]) -> list[Op]:
        raise NotImplementedError

    def macs_per_step(self, r: int, w: int) -> int:
        return r * w * self.ksize


class F32(Family):
    """FP32: flw, fmadd.s into FP32 accumulators (one rounding per MAC), fsw."""
    name = "f32"
    instr = "fmadd.s"

    def step(self, r: int, w: int, spec: MatmulSpec, single: bool = False) -> Step:
        loads = [("flw", f"a{i}", "a", i * spec.a.stride) for i in range(r)]
        if spec.bt:
            loads += [("flw", f"b{j}", "b", j * spec.b.stride) for j in range(w)]
        else:
            loads += [("flw", f"b{j}", "b", 4 * j) for j in range(w)]
        computes = [("fmadd.s", f"c{i}_{j}", (f"a{i}", f"b{j}")) for i in range(r) for j in range(w)]
        return Step(loads, computes)

    def store(self, r, w, spec, reg, temp):
        return [store("fsw", reg(f"c{i}_{j}"), "c", i * spec.c.stride + 4 * j)
                for i in range(r) for j in range(w)]


def compute_op(mnem: str, acc: str, operands: tuple[str, ...]) -> Op:
    """Multiply-accumulate forms: fmadd.s/.h/.ah take (a, b, acc); the others accumulate into fd."""
    if mnem in ("fmadd.s", "fmadd.h", "fmadd.ah"):
        return Op(mnem, (acc, operands[0], operands[1], acc), (acc,), (operands[0], operands[1], acc), "fp")
    return Op(mnem, (acc, *operands), (acc,), (*operands, acc), "fp")


# --- one micro-kernel: an R x W block, everything resolved ---------------------------------------------

@dataclass
class Micro:
    r: int
    w: int
    u: int
    kiters: int                        # iterations of the unrolled k loop
    init: list[Op]
    ptr_init: list[tuple[str, str, int]]   # (dst, "a" | "b", offset from the stream's block base)
    body: list[Op]                     # scheduled loop body, increments included
    tail: list[Op]                     # straight-line k steps after the loop
    stores: list[Op]
    store_ptrs: list[tuple[str, int]]  # (dst, offset from the C block pointer)
    macs_per_iter: int
    consts: list[tuple[str, int]] = field(default_factory=list)   # (register, value) set per block

    @property
    def loop_len(self) -> int:
        return len(self.body)


def _take(free: list[str]) -> str:
    """A free integer register for a pointer or a stride; ValueError when none is left."""
    if not free:
        raise ValueError("matmul: the operands' offsets need more pointer registers than are free "
                         "(the shape's strides are too large for this kernel)")
    return free.pop(0)


def build_micro(fam: Family, spec: MatmulSpec, r: int, w: int, u: int, xregs: list[str]) -> Micro:
    """Resolve registers, pointers and the schedule of one R x W block."""
    steps = spec.k // fam.ksize
    single = spec.k % fam.ksize            # a last lone k element (FP16 pairs with odd k)
    u = max(1, min(u, steps)) if steps else 1
    kiters = steps // u
    tail_steps = steps - kiters * u
    accs = fam.accs(r, w)
    acc_reg = {name: f"f{i}" for i, name in enumerate(accs)}
    if len(accs) > 31:
        raise ValueError(f"{r}x{w} needs {len(accs)} accumulators; 32 f registers")
    pool = [f"f{i}" for i in range(len(accs), 32)]
    adv_a, adv_b = fam.adv(spec)

    # Streams: all offsets any step (u < U) or the lone element may use.
    proto = fam.step(r, w, spec)
    lone = fam.step(r, w, spec, single=True) if single else None
    offs: dict[str, list[int]] = {"a": [], "b": []}
    for uu in range(u):
        for _, _, s, off in proto.loads:
            offs[s].append(off + uu * (adv_a if s == "a" else adv_b))
    if lone is not None:
        for _, _, s, off in lone.loads:
            offs[s].append(off + tail_steps * (adv_a if s == "a" else adv_b))
    ptrs: dict[str, Pointers] = {}
    free_x = list(xregs)
    for s in ("a", "b"):
        bases = cluster_offsets(offs[s])
        ptrs[s] = Pointers(bases, [_take(free_x) for _ in bases])

    def program(step_list: list[tuple[Step, int]]) -> list[Op]:
        """Loads and computes of several steps with operand registers allocated by liveness:
        a register returns to the (FIFO) free list after its last use, so a later load may reuse it."""
        free = list(pool)
        ops: list[Op] = []
        for st, uu in step_list:
            rename: dict[str, str] = {}
            # each operand is loaded right before its first use in program order and freed after
            # its last use; the scheduler then hoists the loads into earlier free slots.
            uses: dict[str, int] = {}
            for idx, (_, _, operands) in enumerate(st.computes):
                for o in operands:
                    uses[o] = idx
            loaded = set()
            loads_by_name = {name: (mnem, name, s, off) for mnem, name, s, off in st.loads}
            for idx, (mnem, acc, operands) in enumerate(st.computes):
                for o in operands:
                    if o not in loaded:
                        if not free:
                            raise ValueError(f"{fam.name} {r}x{w}: out of f registers")
                        lm, _, s, off = loads_by_name[o]
                        reg = free.pop(0)
                        rename[o] = reg
                        preg, imm = ptrs[s].resolve(off + uu * (adv_a if s == "a" else adv_b))
                        ops.append(Op(lm, (reg, f"{imm}({preg})"), (reg,), (preg,), "load"))
                        if fam.widen and lm == "flh":
                            ops.append(Op(fam.widen, (reg, reg), (reg,), (reg,), "fp"))
                        loaded.add(o)
                ops.append(compute_op(mnem, acc_reg[acc], tuple(rename[o] for o in operands)))
                for o in operands:
                    if uses[o] == idx:
                        free.append(rename[o])
        return ops

    body: list[Op] = []
    consts: list[tuple[str, int]] = []     # (register, value) loaded before the block
    if kiters:
        body = program([(proto, uu) for uu in range(u)])
        for s in ("a", "b"):
            inc = u * (adv_a if s == "a" else adv_b)
            if not IMM_MIN <= inc <= IMM_MAX:       # a large stride: keep it in a register
                inc_reg = _take(free_x)
                consts.append((inc_reg, inc))
            for reg in ptrs[s].regs:
                if IMM_MIN <= inc <= IMM_MAX:
                    body.append(Op("addi", (reg, reg, inc), (reg,), (reg,), "alu"))
                else:
                    body.append(Op("add", (reg, reg, inc_reg), (reg,), (reg, inc_reg), "alu"))
        body = schedule(body)
    tail_list = [(proto, uu) for uu in range(tail_steps)]
    if lone is not None:
        tail_list.append((lone, tail_steps))
    tail = schedule(program(tail_list)) if tail_list else []

    init = [fam.init(acc_reg[a], w) for a in accs]
    # stores: temporaries cycle through the operand pool (free after the k loop; the scheduler
    # keeps the reuse order)
    temps = cycle(pool)
    raw_stores = fam.store(r, w, spec, lambda name: acc_reg[name], lambda: next(temps))
    c_offs = [op.args[1].offset for op in raw_stores if op.kind == "store"]
    far = [o for o in c_offs if o > IMM_MAX]
    c_bases = [0] + (cluster_offsets(far) if far else [])
    cptr = Pointers(c_bases, ["<cptr>"] + [_take(free_x) for _ in c_bases[1:]])
    stores = []
    for op in raw_stores:
        if op.kind == "store":
            src, mem = op.args
            preg, imm = cptr.resolve(mem.offset)
            stores.append(Op(op.mnem, (src, f"{imm}({preg})"), (), (src, preg), "store"))
        else:
            stores.append(op)
    stores = schedule(stores)
    store_ptrs = [(reg, base) for base, reg in zip(cptr.bases, cptr.regs) if reg != "<cptr>"]
    ptr_init = [(reg, s, base) for s in ("a", "b") for base, reg in zip(ptrs[s].bases, ptrs[s].regs)]
    return Micro(r, w, u, kiters, init, ptr_init, body, tail, stores, store_ptrs,
                 u * fam.macs_per_step(r, w), consts)


# --- code emission -----------------------------------------------------------------------------------

def _add_const(b: Builder, dst: str, src: str, value: int, tmp: str) -> None:
    if IMM_MIN <= value <= IMM_MAX:
        if value or dst != src:
            b.addi(dst, src, value)
    else:
        b.li(tmp, value)
        b.add(dst, src, tmp)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class Plan:
    """What a matmul emission did, for reports and the variant model."""
    micros: dict[tuple[int, int], Micro] = field(default_factory=dict)


def emit_matmul(b: Builder, spec: MatmulSpec, fam: Family, r: int, w: int, u: int = 2) -> Plan:
    """Append the whole matmul (all cores) to `b`; see the module docstring."""
    if spec.bt and "bt" not in fam.layouts or not spec.bt and "b" not in fam.layouts:
        raise ValueError(f"family {fam.name} does not support {'A·Bᵀ' if spec.bt else 'A·B'}")
    for name in fam.word_aligned(spec):
        if getattr(spec, name).stride % 4:
            raise ValueError(f"{fam.name}: the row stride of {name.upper()} must be a multiple of 4 bytes "
                             f"(vector loads/stores), not {getattr(spec, name).stride}")
    uid = next(_ids)
    L = lambda name: f"mm{uid}_{name}"
    plan = Plan()
    rows_reg, arow, crow, bcol0, bptr, cptr, kreg, t_a, t_b = X_REGION[:9]
    widths = fam.widths(w)
    ncnt = X_REGION[9:9 + len(widths)]
    spare = X_REGION[9 + len(widths):]
    row_levels = [r, 1] if r > 1 else [1]
    cores = spec.cores
    ec = fam.c_elem

    # --- this core's part --------------------------------------------------------------------------
    b.line(f"# matmul {spec.m}x{spec.n}x{spec.k} {'A·Bᵀ' if spec.bt else 'A·B'} ({fam.name} {r}x{w}, "
           f"unroll {u}, split over {spec.split})")
    b.emit("core_id", t_a)
    if spec.split == "rows":
        per = _ceil_div(spec.m, cores)
        b.li(t_b, per)
        b.mul(t_a, t_a, t_b)                      # first row
        b.li(rows_reg, spec.m)
        b.sub(rows_reg, rows_reg, t_a)
        b.emit("p.min", rows_reg, rows_reg, t_b)  # rows of this core
        b.blez(rows_reg, L("done"))
        b.li(t_b, spec.a.stride)
        b.mul(t_b, t_b, t_a)
        b.li(arow, spec.a.symbol)
        b.add(arow, arow, t_b)
        b.li(t_b, spec.c.stride)
        b.mul(t_b, t_b, t_a)
        b.li(crow, spec.c.symbol)
        b.add(crow, crow, t_b)
        b.li(bcol0, spec.b.symbol)
        b.li(t_a, spec.n)                         # columns
    else:
        per = _ceil_div(_ceil_div(spec.n, cores), fam.col_align) * fam.col_align
        b.li(t_b, per)
        b.mul(t_a, t_a, t_b)                      # first column
        b.li(rows_reg, spec.n)
        b.sub(rows_reg, rows_reg, t_a)
        b.emit("p.min", t_b, rows_reg, t_b)       # columns of this core
        b.blez(t_b, L("done"))
        b.li(arow, spec.a.symbol)
        b.li(crow, spec.c.symbol)
        b.li(rows_reg, ec)
        b.mul(rows_reg, rows_reg, t_a)
        b.add(crow, crow, rows_reg)
        b.li(bcol0, spec.b.symbol)
        b.li(rows_reg, spec.b.stride if spec.bt else fam.b_elem)
        b.mul(rows_reg, rows_reg, t_a)
        b.add(bcol0, bcol0, rows_reg)
        b.li(rows_reg, spec.m)
        b.mv(t_a, t_b)
    # block counts per column width: n_w = rest // w, rest %= w (constants for the row split)
    rest = spec.n
    for reg, wd in zip(ncnt, widths):
        if spec.split == "rows":
            b.li(reg, rest // wd)
            rest %= wd
            continue
        if wd == 1:
            b.mv(reg, t_a)
        elif wd & (wd - 1) == 0:
            b.srli(reg, t_a, wd.bit_length() - 1)
            b.andi(t_a, t_a, wd - 1)
        else:
            b.li(t_b, wd)
            b.divu(reg, t_a, t_b)
            b.remu(t_a, t_a, t_b)

    micros = {}
    for rl in row_levels:
        for wd in widths:
            micros[(rl, wd)] = build_micro(fam, spec, rl, wd, u, X_BLOCK)
    plan.micros = micros
    kiters = {m.kiters for m in micros.values()}
    assert len(kiters) == 1
    kit = kiters.pop()
    if kit:
        b.li(kreg, kit)
    # increments that may not fit an addi are kept in spare registers
    consts: dict[int, str] = {}

    def add_reg(dst: str, value: int, label: str | None = None) -> None:
        """dst += value in one instruction (labelled `label`): addi, or add of a preloaded constant,
        or li into the scratch register first when no spare register was left."""
        if IMM_MIN <= value <= IMM_MAX:
            args = ("addi", dst, dst, value)
        elif value in consts:
            args = ("add", dst, dst, consts[value])
        else:
            b.li(t_b, value)
            args = ("add", dst, dst, t_b)
        if label:
            b.label(label)
        b.emit(*args)

    big = set()
    for rl in row_levels:
        big.add(rl * spec.a.stride)
        big.add(rl * spec.c.stride)
    for wd in widths:
        big.add(wd * (spec.b.stride if spec.bt else fam.b_elem))
    for value in sorted(v for v in big if not IMM_MIN <= v <= IMM_MAX)[:len(spare)]:
        reg = spare.pop(0)
        b.li(reg, value)
        consts[value] = reg

    # --- row levels ----------------------------------------------------------------------------------
    for li_, rl in enumerate(row_levels):
        top = L(f"rows{rl}")
        nxt = L(f"rows{row_levels[li_ + 1]}") if li_ + 1 < len(row_levels) else L("done")
        b.label(top)
        if rl > 1:
            b.li(t_b, rl)
            b.blt(rows_reg, t_b, nxt)
        else:
            b.beqz(rows_reg, nxt)
        b.mv(bptr, bcol0)
        b.mv(cptr, crow)
        for wd, nreg in zip(widths, ncnt):
            _emit_column_level(b, fam, spec, micros[(rl, wd)], nreg, arow, bptr, cptr, kreg, t_b,
                               add_reg, L(f"r{rl}w{wd}"))
        add_reg(arow, rl * spec.a.stride)
        add_reg(crow, rl * spec.c.stride)
        b.addi(rows_reg, rows_reg, -rl)
        b.j(top)
    b.label(L("done"))
    return plan


def _emit_column_level(b: Builder, fam: Family, spec: MatmulSpec, mk: Micro, nreg: str, arow: str,
                       bptr: str, cptr: str, kreg: str, tmp: str, add_reg, label: str) -> None:
    """A level-1 hardware loop over `nreg` blocks of mk.r x mk.w."""
    skip, end = f"{label}_skip", f"{label}_end"
    b.beqz(nreg, skip)
    b.emit("lp.setup", "x1", nreg, end)
    for op in mk.init:
        b.emit(op.mnem, *op.args)
    for reg, s, base in mk.ptr_init:
        _add_const(b, reg, arow if s == "a" else bptr, base, tmp)
    for reg, value in mk.consts:
        b.li(reg, value)
    if mk.kiters:
        kend = f"{label}_k"
        b.emit("lp.setup", "x0", kreg, kend)
        for op in mk.body[:-1]:
            b.emit(op.mnem, *op.args)
        b.label(kend)
        b.emit(mk.body[-1].mnem, *mk.body[-1].args)
    for op in mk.tail:
        b.emit(op.mnem, *op.args)
    for reg, base in mk.store_ptrs:
        _add_const(b, reg, cptr, base, tmp)
    for op in mk.stores:
        b.emit(op.mnem, *(a.replace("<cptr>", cptr) if isinstance(a, str) else a for a in op.args))
    add_reg(bptr, mk.w * (spec.b.stride if spec.bt else fam.b_elem))
    add_reg(cptr, mk.w * fam.c_elem, label=end)        # the last instruction of the level-1 loop
    b.label(skip)


# --- variants -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    name: str
    family: Family
    r: int
    w: int
    u: int
    split: str = "rows"
    help: str = ""


FP32_BLOCKS = [(1, 2), (1, 4), (1, 8), (2, 1), (4, 1), (8, 1), (2, 2), (2, 4), (4, 2), (4, 4)]
_F32 = F32()
FP32_VARIANTS: dict[str, Variant] = {
    "naive": Variant("naive", _F32, 1, 1, 1, help="one MAC per k step, no unrolling (fmadd.s)"),
}
for _r, _w in FP32_BLOCKS:
    FP32_VARIANTS[f"{_r}x{_w}"] = Variant(f"{_r}x{_w}", _F32, _r, _w, 2,
                                          help=f"{_r}x{_w} block of C (rows x columns) in registers, "
                                               f"k unrolled 2")
for _name, _r, _w, _u in (("naive_cols", 1, 1, 1), ("1x4_cols", 1, 4, 2), ("1x8_cols", 1, 8, 2)):
    FP32_VARIANTS[_name] = Variant(_name, _F32, _r, _w, _u, "cols",
                                   help=f"{_r}x{_w} blocks, columns of C split over the cores "
                                        f"(for C with fewer rows than cores, e.g. one row)")


def gen_matmul(b: Builder, spec: MatmulSpec, variant: Variant) -> Plan:
    """Emit `variant` for `spec` (spec.split is taken from the variant)."""
    spec = MatmulSpec(spec.m, spec.n, spec.k, spec.a, spec.b, spec.c, spec.bt, spec.cores, variant.split)
    return emit_matmul(b, spec, variant.family, variant.r, variant.w, variant.u)
