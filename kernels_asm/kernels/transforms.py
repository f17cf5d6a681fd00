"""Shape transforms for the layer kernels, and the code-emission helpers the layer modules share.

Transforms (CHW tensors, FP32 or FP16; every element is moved, none is computed, so every result is
bit-exact):

| kernel | result |
|---|---|
| `im2col` | forward / weight-gradient patches of X[C,H,W]: `col` layout B[C*Kh*Kw, Ho*Wo] (row = ci,kh,kw), `row` layout B[Ho*Wo, C*Kh*Kw] (im2row); any kernel size, stride, padding |
| `im2col_grad` | input-gradient patches of dY[Co,Ho,Wo]: im2col (stride 1, Kh x Kw) of dY dilated by the stride (s-1 zeros between elements) inside a zero border of Kh-1-pt / Kw-1-pl, so that dX = Wbt · B |
| `block_transpose` | Wbt[Ci, Co, Kh, Kw] = W[Co, Ci, Kh-1-kh, Kw-1-kw] (180° flip, Cin/Cout swap) |
| `transpose` | B[C, R] = A[R, C] |

How the moves are generated. Every patch transform is a *gather*: for each channel c and each kernel
offset ("block", e.g. (kh, kw)), a 2-D pattern of destination elements, each either a source element
or zero. Along each axis the pattern is regular (`Axis`: leading zeros, `count` values `spread`
apart taking every `step`-th source index, trailing zeros), so the generator specialises the code of
each block at generation time (all counts are constants): zero runs are unrolled stores, value runs
are post-increment load/store pairs in hardware loops, rows in an outer hardware loop. The (block,
channel) items are split evenly over the cores (core i takes a contiguous range of the flat index
block * C + c, sizes differ by at most one), so a 3-channel input still uses 8 cores.

Variants: FP32 `scalar` (word moves). FP16 `scalar` (half-word moves) and `vec` (where the parity of
source and destination is known at generation time and equal: zero runs and contiguous copies move
two halves per word access; dilated rows (stride 2) store a value and its zero neighbour as one word).
The transforms run as parallel steps of the layer programs (see layers_conv.py), and stand-alone as
registry kernels for testing and profiling.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from mcusim.kernels_asm.dtypes import DTYPES as FLOAT, FLOAT_DTYPES
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor
from mcusim.kernels_asm.kernels.registry import Check, KernelDef, Param, register

ESIZE = {name: dt.bytes for name, dt in FLOAT.items()}
ZERO_REGS = ("zero",)


# ------------------------------------------------------------------------------------------------
# Code emission helpers (shared by the layer modules)
# ------------------------------------------------------------------------------------------------

class Asm:
    """Assembly lines with fresh labels and structured hardware loops.

    `asm(mnemonic, *operands)` emits an instruction. `with asm.hwloop(level, count):` emits the body
    inside a hardware loop (li + lp.setup; the end label goes on the body's last instruction) and
    enforces the CV32E40P constraints: at least 3 instructions in a body, and at least one
    instruction between the end of an inner loop and the end of its outer loop."""

    def __init__(self, prefix: str = "k") -> None:
        self.lines: list[str] = []
        self.prefix = prefix
        self._n = 0
        self._instr = 0                 # instructions emitted so far
        self._last_instr_line = -1      # index in self.lines of the last instruction
        self._inner_end_at = -1         # self._instr value right after an inner loop's last instruction
        self._depth: list[int] = []     # open loop levels

    def __call__(self, mnemonic: str, *operands: int | str) -> None:
        ops = ", ".join(str(o) for o in operands)
        self.lines.append(f"\t{mnemonic} {ops}" if ops else f"\t{mnemonic}")
        self._instr += 1
        self._last_instr_line = len(self.lines) - 1

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")

    def comment(self, text: str) -> None:
        self.lines.append(f"\t# {text}")

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{self.prefix}_{hint}_{self._n}"

    def li(self, reg: str, value: int | str) -> None:
        self("li", reg, value)

    def addi(self, rd: str, rs: str, value: int, tmp: str = "t4") -> None:
        """rd = rs + value for any 32-bit value (addi when it fits)."""
        if value == 0 and rd == rs:
            return
        if -2048 <= value < 2048:
            self("addi", rd, rs, value)
        else:
            self.li(tmp, value)
            self("add", rd, rs, tmp)

    @contextmanager
    def hwloop(self, level: int, count: int | str, reg: str | None = None) -> Iterator[None]:
        """A hardware loop of `count` (>= 1, int or register) iterations around the body."""
        if isinstance(count, int) and count < 1:
            raise ValueError("hardware loop count must be >= 1")
        if level in self._depth or (level == 1 and self._depth) or (level == 0 and 0 in self._depth):
            raise ValueError(f"hardware loop {level} nested wrongly ({self._depth})")
        end = self.fresh(f"lp{level}")
        if isinstance(count, int):
            reg = reg or ("t5" if level == 0 else "t6")
            self.li(reg, count)
        else:
            reg = count
        self("lp.setup", f"x{level}", reg, end)
        start = self._instr
        self._depth.append(level)
        yield
        self._depth.pop()
        if level == 1 and self._inner_end_at == self._instr:
            self("nop")     # an inner loop may not end on the outer loop's last instruction
        if self._instr - start < 3:
            raise ValueError(f"hardware-loop body of {self._instr - start} instructions (minimum 3)")
        self.lines.insert(self._last_instr_line, f"{end}:")
        self._last_instr_line += 1
        if level == 0:
            self._inner_end_at = self._instr

    def repeat(self, n: int, group: Callable[[], None], group_len: int, level: int = 0,
               inline_max: int = 8) -> None:
        """`group` (emitting `group_len` instructions) n times: inline when short, else in a
        hardware loop unrolled to at least 3 instructions plus an inline remainder."""
        if n <= 0:
            return
        if n * group_len <= inline_max or (level == 0 and 0 in self._depth) or \
                (level == 1 and self._depth):
            for _ in range(n):
                group()
            return
        unroll = max(1, -(-3 // group_len))
        loops, rest = divmod(n, unroll)
        if loops == 1:
            rest += unroll
        else:
            with self.hwloop(level, loops):
                for _ in range(unroll):
                    group()
        for _ in range(rest):
            group()

    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


def core_range(asm: Asm, total: int, cores: int, lo: str = "s0", hi: str = "s1", cid: str = "a0") -> None:
    """lo, hi = this core's slice [lo, hi) of `total` items (balanced: sizes differ by at most 1)."""
    q, r = divmod(total, cores)
    asm.li("t0", q)
    asm("mul", lo, cid, "t0")
    if r:
        asm.li("t1", r)
        asm("p.minu", "t2", cid, "t1")
        asm("add", lo, lo, "t2")
        asm("sltu", "t3", cid, "t1")
        asm("add", hi, lo, "t3")
        asm.addi(hi, hi, q)
    else:
        asm.addi(hi, lo, q)


def mem_op(kind: str, dtype: str, unsigned: bool = False) -> str:
    """Post-increment integer load/store mnemonic moving one element of `dtype`."""
    if kind == "load":
        return "p.lw" if ESIZE[dtype] == 4 else ("p.lhu" if unsigned else "p.lh")
    return "p.sw" if ESIZE[dtype] == 4 else "p.sh"


def inc(value: int, reg: str) -> str:
    """The post-increment operand: an immediate when it fits 12 bits, else the register holding it."""
    return str(value) if -2048 <= value < 2048 else reg


# ------------------------------------------------------------------------------------------------
# Gather patterns
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One axis of a gather: destination positions 0..n-1; `count` of them, starting at `lead` and
    `spread` apart, take source indices src0, src0 + step, ...; the others are zero."""
    n: int
    lead: int
    count: int
    spread: int
    src0: int
    step: int

    @property
    def trail(self) -> int:
        return self.n - self.lead - (self.count - 1) * self.spread - 1 if self.count else 0


def axis_from_map(n: int, src_of: Callable[[int], int | None]) -> Axis:
    """Compress the explicit map (destination -> source index or None) into an Axis; the map of a
    convolution patch is always regular (asserted)."""
    pos = [(d, s) for d in range(n) if (s := src_of(d)) is not None]
    if not pos:
        return Axis(n, n, 0, 1, 0, 1)
    spread = pos[1][0] - pos[0][0] if len(pos) > 1 else 1
    step = pos[1][1] - pos[0][1] if len(pos) > 1 else 1
    for i, (d, s) in enumerate(pos):
        assert d == pos[0][0] + i * spread and s == pos[0][1] + i * step, "irregular gather axis"
    return Axis(n, pos[0][0], len(pos), spread, pos[0][1], step)


@dataclass(frozen=True)
class Block:
    """One 2-D pattern (e.g. one kernel offset kh, kw) of a gather, for every channel."""
    rows: Axis
    cols: Axis
    dst_off: int      # bytes from the channel's destination base to the pattern's element (0, 0)
    src_off: int = 0  # bytes from the channel's source base to source element (0, 0)


@dataclass(frozen=True)
class Gather:
    """dst[c][block][r][col] (flat positions (r * cols.n + col) * de bytes from the block's origin)
    = src[c][rows.src(r)][cols.src(col)] or 0, for c in 0..channels-1 and every block."""
    dtype: str
    src: str                    # assembler expression of the source base (a tensor symbol)
    dst: str
    channels: int
    src_chan: int               # bytes between source channels
    dst_chan: int               # bytes between destination channels
    src_row: int                # bytes between source rows
    de: int                     # bytes between consecutive destination pattern positions
    blocks: tuple[Block, ...]
    vec: bool = False           # FP16: word moves where parities allow


class _Pos:
    """Destination (and source) parity tracker for the FP16 word moves: byte offsets mod 4 when
    known at generation time, None when not."""

    def __init__(self, dst: int | None, src: int | None) -> None:
        self.dst, self.src = dst, src

    def move_dst(self, nbytes: int | None) -> None:
        self.dst = None if self.dst is None or nbytes is None else (self.dst + nbytes) % 4

    def move_src(self, nbytes: int | None) -> None:
        self.src = None if self.src is None or nbytes is None else (self.src + nbytes) % 4


class GatherEmitter:
    """Emits the code of a Gather for the calling core's slice of (block, channel) items.

    Registers: s0, s1 = the slice; s2 = channels left; s3, s4 = source / destination channel
    pointers; s5, s6 = channel strides; s7 = destination position stride, s8 = source value stride,
    s9 = row advance (when they do not fit 12 bits); a0 / a1 = source / destination pointers;
    t0, t1 = data; t2-t6 scratch."""

    def __init__(self, asm: Asm, g: Gather) -> None:
        self.a, self.g = asm, g
        self.es = ESIZE[g.dtype]
        self.half = self.es == 2
        self.vec = g.vec and self.half and g.de == 2
        self.ld = mem_op("load", g.dtype, unsigned=True)
        self.st = mem_op("store", g.dtype)

    # -- element runs ---------------------------------------------------------------------------
    def zeros(self, m: int, pos: _Pos) -> None:
        """m zero elements at the destination pointer."""
        a, g = self.a, self.g
        if m <= 0:
            return
        de = inc(g.de, "s7")
        if self.vec and pos.dst is not None and m >= 3:
            n = m
            if pos.dst % 4:
                a("p.sh", "zero", "2(a1!)")
                n -= 1
            words, odd = divmod(n, 2)
            a.repeat(words, lambda: a("p.sw", "zero", "4(a1!)"), 1, inline_max=6)
            if odd:
                a("p.sh", "zero", "2(a1!)")
        else:
            a.repeat(m, lambda: a(self.st, "zero", f"{de}(a1!)"), 1, inline_max=6)
        pos.move_dst(m * g.de)

    def values(self, c: Axis, pos: _Pos) -> None:
        """One row of the pattern from its first value to its last (zeros between values)."""
        a, g = self.a, self.g
        sb = c.step * self.es                       # source bytes between values
        si, de = inc(sb, "s8"), inc(g.de, "s7")
        gz = c.spread - 1
        ld, st = self.ld, self.st
        if gz == 0:
            if self.vec and c.step == 1 and pos.dst is not None and pos.src is not None \
                    and pos.dst % 4 == pos.src % 4 and c.count >= 4:
                self._copy_words(c.count, pos)
                return
            pairs, odd = divmod(c.count, 2)

            def two() -> None:
                a(ld, "t0", f"{si}(a0!)")
                a(ld, "t1", f"{si}(a0!)")
                a(st, "t0", f"{de}(a1!)")
                a(st, "t1", f"{de}(a1!)")
            a.repeat(pairs, two, 4)
            if odd:
                a(ld, "t0", f"{si}(a0!)")
                a(st, "t0", f"{de}(a1!)")
        else:
            if self.vec and gz == 1 and pos.dst is not None and pos.dst % 4 == 0:
                # value then zero = one word: the zero-extended half
                def word() -> None:
                    a("p.lhu", "t0", f"{si}(a0!)")
                    a("p.lhu", "t1", f"{si}(a0!)")
                    a("p.sw", "t0", "4(a1!)")
                    a("p.sw", "t1", "4(a1!)")
                pairs, odd = divmod(c.count - 1, 2)
                a.repeat(pairs, word, 4)
                if odd:
                    a("p.lhu", "t0", f"{si}(a0!)")
                    a("p.sw", "t0", "4(a1!)")
            else:
                def spaced() -> None:
                    a(ld, "t0", f"{si}(a0!)")
                    a(ld, "t1", f"{si}(a0!)")
                    a(st, "t0", f"{de}(a1!)")
                    for _ in range(gz):
                        a(st, "zero", f"{de}(a1!)")
                    a(st, "t1", f"{de}(a1!)")
                    for _ in range(gz):
                        a(st, "zero", f"{de}(a1!)")
                pairs, odd = divmod(c.count - 1, 2)
                a.repeat(pairs, spaced, 4 + 2 * gz)
                if odd:
                    a(ld, "t0", f"{si}(a0!)")
                    a(st, "t0", f"{de}(a1!)")
                    for _ in range(gz):
                        a(st, "zero", f"{de}(a1!)")
            a(ld, "t0", f"{si}(a0!)")
            a(st, "t0", f"{de}(a1!)")
        pos.move_dst(((c.count - 1) * c.spread + 1) * g.de)
        pos.move_src(c.count * sb)

    def _copy_words(self, n: int, pos: _Pos) -> None:
        """n contiguous halves, source and destination of equal parity: words in the middle."""
        a = self.a
        if pos.dst % 4:
            a("p.lhu", "t0", "2(a0!)")
            a("p.sh", "t0", "2(a1!)")
            n -= 1
        words, odd = divmod(n, 2)
        pairs, single = divmod(words, 2)

        def two() -> None:
            a("p.lw", "t0", "4(a0!)")
            a("p.lw", "t1", "4(a0!)")
            a("p.sw", "t0", "4(a1!)")
            a("p.sw", "t1", "4(a1!)")
        a.repeat(pairs, two, 4)
        if single:
            a("p.lw", "t0", "4(a0!)")
            a("p.sw", "t0", "4(a1!)")
        if odd:
            a("p.lhu", "t0", "2(a0!)")
            a("p.sh", "t0", "2(a1!)")
        total = n + (1 if pos.dst % 4 else 0)
        pos.move_dst(total * 2)
        pos.move_src(total * 2)

    # -- one block, one channel -----------------------------------------------------------------
    def pattern(self, b: Block, pos: _Pos) -> None:
        a, g = self.a, self.g
        r, c = b.rows, b.cols
        if r.count == 0 or c.count == 0:
            self.zeros(r.n * c.n, pos)
            return
        self.zeros(r.lead * c.n + c.lead, pos)
        between = c.trail + (r.spread - 1) * c.n + c.lead
        advance = r.step * g.src_row - c.count * c.step * self.es
        row_dst = r.spread * c.n * g.de            # destination bytes from one row to the next

        def row(p: _Pos) -> None:
            self.values(c, p)
            self.zeros(between, p)
            if advance:
                a.addi("a0", "a0", advance, tmp="s9")
            p.move_src(advance)

        rows_before_last = r.count - 1
        src_shift = r.step * g.src_row
        # a row's code is specialised to the parities it starts with; when they change from one
        # row to the next (odd row lengths in halves), two rows make one loop iteration
        same = pos.dst is None or (row_dst % 4 == 0 and (pos.src is None or src_shift % 4 == 0))
        per_iter = 1 if same else 2
        iters, rest = divmod(rows_before_last, per_iter)
        if iters == 1:
            rest += per_iter
        elif iters:
            with a.hwloop(1, iters):
                p = _Pos(pos.dst, pos.src)
                for _ in range(per_iter):
                    row(p)
            pos.move_dst(iters * per_iter * row_dst)
            pos.move_src(iters * per_iter * src_shift)
        for _ in range(rest):
            row(pos)
        self.values(c, pos)
        self.zeros(c.trail + r.trail * c.n, pos)

    # -- everything ---------------------------------------------------------------------------------
    def emit(self, cores: int, slice_regs: bool = True) -> None:
        """The calling core's share of every block and channel (a0 = core id on entry)."""
        a, g = self.a, self.g
        nb, C = len(g.blocks), g.channels
        if slice_regs:
            core_range(a, nb * C, cores)
        a.li("s5", g.src_chan)
        a.li("s6", g.dst_chan)
        if not -2048 <= g.de < 2048:
            a.li("s7", g.de)
        for bi, b in enumerate(g.blocks):
            if not -2048 <= b.cols.step * self.es < 2048:
                a.li("s8", b.cols.step * self.es)
            skip, loop = a.fresh("skip"), a.fresh("chan")
            base = bi * C
            a.addi("t0", "s0", -base)
            a("p.max", "t0", "t0", "zero")
            a.li("t3", C)
            a("p.min", "t0", "t0", "t3")
            a.addi("t1", "s1", -base)
            a("p.min", "t1", "t1", "t3")
            a("sub", "s2", "t1", "t0")
            a("blez", "s2", skip)
            first = b.src_off + b.rows.src0 * g.src_row + b.cols.src0 * self.es
            a("mul", "t2", "t0", "s5")
            a.li("s3", f"{g.src} + {first}")
            a("add", "s3", "s3", "t2")
            a("mul", "t2", "t0", "s6")
            a.li("s4", f"{g.dst} + {b.dst_off}")
            a("add", "s4", "s4", "t2")
            a.label(loop)
            a("mv", "a0", "s3")
            a("mv", "a1", "s4")
            pos = self._start_pos(b, first)
            self.pattern(b, pos)
            a("add", "s3", "s3", "s5")
            a("add", "s4", "s4", "s6")
            a("addi", "s2", "s2", -1)
            a("bnez", "s2", loop)
            a.label(skip)

    def _start_pos(self, b: Block, first: int) -> _Pos:
        """Parities at the start of a (block, channel) item: known when every channel shares them
        (tensor bases are 4-byte aligned)."""
        g = self.g
        if not self.vec:
            return _Pos(None, None)
        dst = b.dst_off % 4 if g.dst_chan % 4 == 0 else None
        src = first % 4 if g.src_chan % 4 == 0 else None
        return _Pos(dst, src)


# ------------------------------------------------------------------------------------------------
# Convolution geometry and the patch transforms
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvGeom:
    """A convolution's shapes: input C x H x W, kernel Kh x Kw, strides, paddings (top, bottom,
    left, right)."""
    c: int
    h: int
    w: int
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    pt: int = 0
    pb: int = 0
    pl: int = 0
    pr: int = 0

    @property
    def ho(self) -> int:
        return (self.h + self.pt + self.pb - self.kh) // self.sh + 1

    @property
    def wo(self) -> int:
        return (self.w + self.pl + self.pr - self.kw) // self.sw + 1

    @property
    def kk(self) -> int:
        return self.kh * self.kw

    def check(self) -> None:
        if min(self.c, self.h, self.w, self.kh, self.kw, self.sh, self.sw) < 1 or \
                min(self.pt, self.pb, self.pl, self.pr) < 0 or self.ho < 1 or self.wo < 1:
            raise ValueError(f"bad convolution geometry {self}")

    @staticmethod
    def square(c: int, h: int, w: int, k: int, stride: int = 1, pad: int = 0) -> ConvGeom:
        return ConvGeom(c, h, w, k, k, stride, stride, pad, pad, pad, pad)


def im2col_gather(geom: ConvGeom, dtype: str, src: str, dst: str, layout: str = "col",
                  src_stride: int | None = None, dst_stride: int | None = None,
                  vec: bool = False, src_chan: int | None = None) -> Gather:
    """Patches of X[C, H, W] (rows of `src_stride` elements, channels `src_chan` elements apart,
    default H * src_stride): layout "col" gives B[(c, kh, kw), (oh, ow)], "row" gives
    B[(oh, ow), (c, kh, kw)]; `dst_stride` = elements between rows of B."""
    geom.check()
    g, es = geom, ESIZE[dtype]
    srs = src_stride or g.w
    blocks = []
    for kh in range(g.kh):
        rows = axis_from_map(g.ho, lambda oh, kh=kh: ih if 0 <= (ih := oh * g.sh - g.pt + kh) < g.h else None)
        for kw in range(g.kw):
            cols = axis_from_map(g.wo, lambda ow, kw=kw: iw if 0 <= (iw := ow * g.sw - g.pl + kw) < g.w else None)
            blocks.append((kh * g.kw + kw, rows, cols))
    return _patch_gather(blocks, g.c, g.kk, g.ho * g.wo, dtype, src, dst, layout, srs * es,
                         (src_chan or g.h * srs) * es, dst_stride, vec)


def im2col_grad_gather(geom: ConvGeom, dtype: str, src: str, dst: str, layout: str = "col",
                       src_stride: int | None = None, dst_stride: int | None = None,
                       vec: bool = False, src_chan: int | None = None) -> Gather:
    """Input-gradient patches of dY[Co, Ho, Wo] (`geom` is the forward convolution, geom.c = Co
    here): B[(co, kh, kw), (i, j)] = dY[co, u, v] with u = (i + kh - (Kh-1) + pt) / sh when that is
    an integer in 0..Ho-1 (likewise v), else 0: stride-1 patches of dY dilated by the stride inside
    a zero border, for the flipped kernel (block_transpose)."""
    geom.check()
    g, es = geom, ESIZE[dtype]
    srs = src_stride or g.wo

    def src_of(i: int, k: int, kext: int, pad: int, s: int, n: int) -> int | None:
        t = i + k - (kext - 1) + pad
        return t // s if t >= 0 and t % s == 0 and t // s < n else None

    blocks = []
    for kh in range(g.kh):
        rows = axis_from_map(g.h, lambda i, kh=kh: src_of(i, kh, g.kh, g.pt, g.sh, g.ho))
        for kw in range(g.kw):
            cols = axis_from_map(g.w, lambda j, kw=kw: src_of(j, kw, g.kw, g.pl, g.sw, g.wo))
            blocks.append((kh * g.kw + kw, rows, cols))
    return _patch_gather(blocks, g.c, g.kk, g.h * g.w, dtype, src, dst, layout, srs * es,
                         (src_chan or g.ho * srs) * es, dst_stride, vec)


def _patch_gather(blocks: list[tuple[int, Axis, Axis]], channels: int, kk: int, npix: int,
                  dtype: str, src: str, dst: str, layout: str, src_row: int, src_chan: int,
                  dst_stride: int | None, vec: bool) -> Gather:
    es = ESIZE[dtype]
    if layout == "col":        # B[(c, k), p]: a block is one row of B
        rs = dst_stride or npix
        de, dst_chan, off = es, kk * rs * es, [k * rs * es for k, _, _ in blocks]
    elif layout == "row":      # B[p, (c, k)]: a block is one column of B
        rs = dst_stride or channels * kk
        de, dst_chan, off = rs * es, kk * es, [k * es for k, _, _ in blocks]
    else:
        raise ValueError(f"layout must be 'col' or 'row', not {layout!r}")
    return Gather(dtype, src, dst, channels, src_chan, dst_chan, src_row, de,
                  tuple(Block(r, c, o) for (_, r, c), o in zip(blocks, off)), vec)


def pad_gather(c: int, h: int, w: int, dtype: str, src: str, dst: str, pt: int, pb: int, pl: int,
               pr: int, dh: int = 1, dw: int = 1, vec: bool = False) -> Gather:
    """dst[c, (h-1)*dh+1+pt+pb, (w-1)*dw+1+pl+pr] = src[c, h, w] dilated by (dh, dw) (zeros between
    the elements) inside a zero border; a negative border crops."""
    es = ESIZE[dtype]
    hd, wd = (h - 1) * dh + 1 + pt + pb, (w - 1) * dw + 1 + pl + pr

    def src_of(i: int, pad: int, d: int, n: int) -> int | None:
        t = i - pad
        return t // d if t >= 0 and t % d == 0 and t // d < n else None
    rows = axis_from_map(hd, lambda i: src_of(i, pt, dh, h))
    cols = axis_from_map(wd, lambda j: src_of(j, pl, dw, w))
    return Gather(dtype, src, dst, c, h * w * es, hd * wd * es, w * es, es, (Block(rows, cols, 0),), vec)


def emit_gather(asm: Asm, g: Gather, cores: int) -> None:
    """The calling core's share of a Gather (a0 = core id on entry; clobbers a0-a1, t0-t6, s0-s9)."""
    GatherEmitter(asm, g).emit(cores)


# ------------------------------------------------------------------------------------------------
# Weight flip and transposes
# ------------------------------------------------------------------------------------------------

def emit_block_transpose(asm: Asm, cout: int, cin: int, kk: int, dtype: str, src: str, dst: str,
                         cores: int, src_stride: int | None = None, dst_stride: int | None = None) -> None:
    """dst[ci, co*kk + k] = src[co, ci*kk + (kk-1-k)]: the flipped, Cin/Cout-swapped weights of
    the input-gradient convolution (reversing the flat kh*Kw+kw index flips both kernel axes).
    Work split over the Cin*Cout (ci, co) blocks in destination order."""
    a, es = asm, ESIZE[dtype]
    srs, drs = src_stride or cin * kk, dst_stride or cout * kk
    ld, st = mem_op("load", dtype), mem_op("store", dtype)
    done, loop, same = a.fresh("bt_done"), a.fresh("bt_loop"), a.fresh("bt_same")
    core_range(a, cin * cout, cores)
    a("sub", "s2", "s1", "s0")
    a("blez", "s2", done)
    a.li("t0", cout)
    a("divu", "s3", "s0", "t0")            # ci of the first block
    a("remu", "s4", "s0", "t0")            # co of the first block
    a.li("t1", srs * es)
    a("mul", "t2", "s4", "t1")
    a.li("t1", kk * es)
    a("mul", "t3", "s3", "t1")
    a.li("s6", f"{src} + {(kk - 1) * es}")
    a("add", "s6", "s6", "t3")              # s6 = &src[0, ci*kk + kk-1]
    a("add", "a0", "s6", "t2")
    a.li("t1", drs * es)
    a("mul", "t2", "s3", "t1")
    a.li("t1", kk * es)
    a("mul", "t3", "s4", "t1")
    a.li("a1", dst)
    a("add", "a1", "a1", "t2")
    a("add", "a1", "a1", "t3")
    a.li("s5", srs * es + kk * es)          # to the next co after a reversed block
    a.li("s7", cout)
    a.label(loop)
    pairs, odd = divmod(kk, 2)

    def two() -> None:
        a(ld, "t0", f"{-es}(a0!)")
        a(ld, "t1", f"{-es}(a0!)")
        a(st, "t0", f"{es}(a1!)")
        a(st, "t1", f"{es}(a1!)")
    a.repeat(pairs, two, 4)
    if odd:
        a(ld, "t0", f"{-es}(a0!)")
        a(st, "t0", f"{es}(a1!)")
    a("addi", "s4", "s4", 1)
    a("add", "a0", "a0", "s5")
    a("bne", "s4", "s7", same)
    a.li("s4", 0)
    a.addi("s6", "s6", kk * es)
    a("mv", "a0", "s6")
    a.addi("a1", "a1", (drs - cout * kk) * es)
    a.label(same)
    a("addi", "s2", "s2", -1)
    a("bnez", "s2", loop)
    a.label(done)


def emit_transpose(asm: Asm, rows: int, cols: int, dtype: str, src: str, dst: str, cores: int,
                   src_stride: int | None = None, dst_stride: int | None = None) -> None:
    """dst[j, i] = src[i, j] for src rows x cols; destination rows split over the cores."""
    a, es = asm, ESIZE[dtype]
    srs, drs = src_stride or cols, dst_stride or rows
    ld, st = mem_op("load", dtype), mem_op("store", dtype)
    done, loop = a.fresh("tr_done"), a.fresh("tr_loop")
    core_range(a, cols, cores)
    a("sub", "s2", "s1", "s0")
    a("blez", "s2", done)
    a.li("t1", es)
    a("mul", "t2", "s0", "t1")
    a.li("s3", src)
    a("add", "s3", "s3", "t2")              # s3 = &src[0, j]
    a.li("t1", drs * es)
    a("mul", "t2", "s0", "t1")
    a.li("s4", dst)
    a("add", "s4", "s4", "t2")              # s4 = &dst[j, 0]
    if not -2048 <= srs * es < 2048:
        a.li("s8", srs * es)
    si = inc(srs * es, "s8")
    a.label(loop)
    a("mv", "a0", "s3")
    a("mv", "a1", "s4")
    pairs, odd = divmod(rows, 2)

    def two() -> None:
        a(ld, "t0", f"{si}(a0!)")
        a(ld, "t1", f"{si}(a0!)")
        a(st, "t0", f"{es}(a1!)")
        a(st, "t1", f"{es}(a1!)")
    a.repeat(pairs, two, 4)
    if odd:
        a(ld, "t0", f"{si}(a0!)")
        a(st, "t0", f"{es}(a1!)")
    a("addi", "s3", "s3", es)
    a.addi("s4", "s4", drs * es)
    a("addi", "s2", "s2", -1)
    a("bnez", "s2", loop)
    a.label(done)


# ------------------------------------------------------------------------------------------------
# numpy references (exact: the transforms only move elements)
# ------------------------------------------------------------------------------------------------

def im2col_ref(x: np.ndarray, g: ConvGeom, layout: str = "col") -> np.ndarray:
    xp = np.zeros((g.c, g.h + g.pt + g.pb + g.sh, g.w + g.pl + g.pr + g.sw), x.dtype)
    xp[:, g.pt:g.pt + g.h, g.pl:g.pl + g.w] = x
    out = np.empty((g.c, g.kh, g.kw, g.ho, g.wo), x.dtype)
    for kh in range(g.kh):
        for kw in range(g.kw):
            out[:, kh, kw] = xp[:, kh:kh + g.sh * g.ho:g.sh, kw:kw + g.sw * g.wo:g.sw]
    col = out.reshape(g.c * g.kk, g.ho * g.wo)
    return col if layout == "col" else np.ascontiguousarray(col.T)


def dilate_pad_ref(dy: np.ndarray, g: ConvGeom) -> np.ndarray:
    """dY dilated by the stride inside the border Kh-1-pt (top), Kw-1-pl (left), cut or extended to
    H + Kh - 1 rows and W + Kw - 1 columns."""
    co = dy.shape[0]
    big = np.zeros((co, g.h + g.kh - 1 + g.pt + g.ho * g.sh, g.w + g.kw - 1 + g.pl + g.wo * g.sw), dy.dtype)
    # place dY[u, v] at row u*sh + (Kh-1-pt) (shifted by pt to keep indices non-negative)
    big[:, g.kh - 1:g.kh - 1 + g.ho * g.sh:g.sh, g.kw - 1:g.kw - 1 + g.wo * g.sw:g.sw] = dy
    return big[:, g.pt:g.pt + g.h + g.kh - 1, g.pl:g.pl + g.w + g.kw - 1]


def im2col_grad_ref(dy: np.ndarray, g: ConvGeom, layout: str = "col") -> np.ndarray:
    d = dilate_pad_ref(dy, g)
    co = dy.shape[0]
    out = np.empty((co, g.kh, g.kw, g.h, g.w), dy.dtype)
    for kh in range(g.kh):
        for kw in range(g.kw):
            out[:, kh, kw] = d[:, kh:kh + g.h, kw:kw + g.w]
    col = out.reshape(co * g.kk, g.h * g.w)
    return col if layout == "col" else np.ascontiguousarray(col.T)


def block_transpose_ref(w: np.ndarray) -> np.ndarray:
    """w[Co, Ci, Kh, Kw] -> [Ci, Co, Kh, Kw] flipped in both kernel axes."""
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def exact_check(outputs: dict[str, np.ndarray], refs: dict[str, np.ndarray]) -> Check:
    """Bit-exact comparison (the transforms move elements, they never round)."""
    for name, ref in refs.items():
        out = outputs[name]
        ob = np.ascontiguousarray(out).view(np.uint16 if out.dtype == np.float16 else np.uint32)
        rb = np.ascontiguousarray(ref.astype(out.dtype)).view(ob.dtype)
        bad = np.argwhere(ob != rb)
        if len(bad):
            i = tuple(int(v) for v in bad[0])
            return Check(False, float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64)))), 0.0,
                         f"{name}: {len(bad)} elements differ, first at {i}: {out[i]} != {ref[i]}")
    return Check(True, 0.0, 0.0, "bit-exact: " + ", ".join(refs))


# ------------------------------------------------------------------------------------------------
# Stand-alone transform programs (registry kernels)
# ------------------------------------------------------------------------------------------------

def _program(name: str, asm: Asm, tensors: list[Tensor], meta: dict | None = None) -> KernelProgram:
    return KernelProgram(name, asm.source(), tensors, meta or {})


# ------------------------------------------------------------------------------------------------
# PULP-TrainLib-style im2row: element loops
# ------------------------------------------------------------------------------------------------

def emit_im2row_loops(asm: Asm, geom: ConvGeom, dtype: str, src: str, dst: str, cores: int,
                      grad: bool = False, dst_stride: int | None = None, src_chan: int | None = None) -> None:
    """B[p, (c, kh, kw)] (im2row; rows p = output pixels) the way PULP-TrainLib's C im2row builds it
    (facts from its public pulp_im2col sources): loops over the pixels, the calling core's channels
    (channels split over the cores), kernel rows and columns, every element's source coordinates
    computed and bounds-checked at run time (branches; no hardware loops, no specialisation): about
    ten instructions per element, against ~2 for the generated gathers above. grad=False: forward
    patches of X[C, H, W] (geom as given); grad=True: the input-gradient patches of dY[C, Ho, Wo]
    (geom.c = the channels of dY), i.e. stride-1 patches of dY dilated by the stride inside the
    border Kh-1-pt / Kw-1-pl (the dilation test: a mask for power-of-two strides, else remu/divu).
    `dst_stride`: elements between rows of B; `src_chan`: elements between source channels."""
    g, a, es = geom, asm, ESIZE[dtype]
    g.check()
    kk = g.kh * g.kw
    if grad:
        rows, cols, n_r, n_c = g.h, g.w, g.ho, g.wo
        sr, sc, off_r, off_c, d_r, d_c = 1, 1, g.kh - 1 - g.pt, g.kw - 1 - g.pl, g.sh, g.sw
    else:
        rows, cols, n_r, n_c = g.ho, g.wo, g.h, g.w
        sr, sc, off_r, off_c, d_r, d_c = g.sh, g.sw, g.pt, g.pl, 1, 1

    def on_grid(coord: str, d: int, pad: str) -> None:
        """t1 = coord / d, or to `pad` when coord is off the dilation grid (a mask and a shift for
        powers of two, a remainder and a division otherwise)."""
        if d == 1:
            a("mv", "t1", coord)
        elif d & (d - 1) == 0:
            a("andi", "t0", coord, d - 1)
            a("bnez", "t0", pad)
            a("srai", "t1", coord, d.bit_length() - 1)
        else:
            a.li("t0", d)
            a("remu", "t1", coord, "t0")
            a("bnez", "t1", pad)
            a("divu", "t1", coord, "t0")
    row_bytes, chan_bytes = n_c * es, (src_chan or n_r * n_c) * es
    dst_row = (dst_stride or g.c * kk) * es
    ld, st = ("lw", "sw") if es == 4 else ("lhu", "sh")
    L = {name: a.fresh(name) for name in ("done", "row", "col", "chan", "kh", "kw", "epad", "estore",
                                           "rowpad", "rpl", "khnext")}
    core_range(a, g.c, cores)
    a("bge", "s0", "s1", L["done"])
    a.li("s2", 0)
    a.label(L["row"])
    a.li("s3", 0)
    a.label(L["col"])
    a.li("t0", cols)
    a("mul", "t1", "s2", "t0")
    a("add", "t1", "t1", "s3")
    a.li("t0", dst_row)
    a("mul", "t1", "t1", "t0")
    a.li("a2", dst)
    a("add", "a2", "a2", "t1")
    a.li("t0", kk * es)
    a("mul", "t1", "s0", "t0")
    a("add", "a2", "a2", "t1")                # a2 = &B[p, c0*kk]
    a("mv", "s5", "s0")
    a.label(L["chan"])
    a.li("t0", chan_bytes)
    a("mul", "s7", "s5", "t0")
    a.li("t1", src)
    a("add", "s7", "s7", "t1")                # s7 = &src[c, 0, 0]
    a.li("t0", sr)
    a("mul", "s8", "s2", "t0")
    a.addi("s8", "s8", -off_r)                # s8 = source row (dilated) of kh = 0
    a.li("s6", g.kh)
    a.label(L["kh"])
    # the kernel row: in range (and on the dilation grid) or a row of zeros
    a("bltz", "s8", L["rowpad"])
    on_grid("s8", d_r, L["rowpad"])
    a.li("t0", n_r)
    a("bge", "t1", "t0", L["rowpad"])
    a.li("t0", row_bytes)
    a("mul", "s9", "t1", "t0")
    a("add", "s9", "s9", "s7")                # s9 = &src[c, row, 0]
    a.li("t0", sc)
    a("mul", "s10", "s3", "t0")
    a.addi("s10", "s10", -off_c)              # s10 = source column of kw = 0
    a.li("t5", g.kw)
    a.label(L["kw"])
    a("bltz", "s10", L["epad"])
    on_grid("s10", d_c, L["epad"])
    a.li("t0", n_c)
    a("bge", "t1", "t0", L["epad"])
    a("slli", "t1", "t1", es.bit_length() - 1)
    a("add", "t1", "t1", "s9")
    a(ld, "t2", "0(t1)")
    a("j", L["estore"])
    a.label(L["epad"])
    a.li("t2", 0)
    a.label(L["estore"])
    a(st, "t2", "0(a2)")
    a("addi", "a2", "a2", es)
    a("addi", "s10", "s10", 1)
    a("addi", "t5", "t5", -1)
    a("bnez", "t5", L["kw"])
    a("j", L["khnext"])
    a.label(L["rowpad"])
    a.li("t5", g.kw)
    a.label(L["rpl"])
    a(st, "zero", "0(a2)")
    a("addi", "a2", "a2", es)
    a("addi", "t5", "t5", -1)
    a("bnez", "t5", L["rpl"])
    a.label(L["khnext"])
    a("addi", "s8", "s8", 1)
    a("addi", "s6", "s6", -1)
    a("bnez", "s6", L["kh"])
    a("addi", "s5", "s5", 1)
    a("blt", "s5", "s1", L["chan"])
    a("addi", "s3", "s3", 1)
    a.li("t0", cols)
    a("blt", "s3", "t0", L["col"])
    a("addi", "s2", "s2", 1)
    a.li("t0", rows)
    a("blt", "s2", "t0", L["row"])
    a.label(L["done"])


def im2col_program(g: ConvGeom, dtype: str, layout: str, cores: int, vec: bool = False,
                   grad: bool = False, loops: bool = False) -> KernelProgram:
    """im2col (grad=False: of X, forward patches) or im2col_grad (of dY) as a program; `loops`:
    the PULP-TrainLib-style element loops (im2row layout only)."""
    asm = Asm("i2c")
    src_shape, npix = ((g.c, g.ho, g.wo), g.h * g.w) if grad else ((g.c, g.h, g.w), g.ho * g.wo)
    if loops:
        if layout != "row":
            raise ValueError("the element-loop im2col builds the row layout (im2row)")
        emit_im2row_loops(asm, g, dtype, "X", "B", cores, grad)
    elif grad:
        emit_gather(asm, im2col_grad_gather(g, dtype, "X", "B", layout, vec=vec), cores)
    else:
        emit_gather(asm, im2col_gather(g, dtype, "X", "B", layout, vec=vec), cores)
    shape = (g.c * g.kk, npix) if layout == "col" else (npix, g.c * g.kk)
    return _program("im2col_grad" if grad else "im2col", asm,
                    [Tensor("X", src_shape, dtype), Tensor("B", shape, dtype, role="output")])


_CONV_PARAMS = (Param("c", 3, "channels"), Param("h", 8, "input rows"), Param("w", 8, "input columns"),
                Param("kh", 3, "kernel rows"), Param("kw", 3, "kernel columns"),
                Param("s", 1, "stride (both axes)"), Param("p", 1, "padding (all sides)", min=0))


def _geom(shape: dict) -> ConvGeom:
    return ConvGeom(shape["c"], shape["h"], shape["w"], shape["kh"], shape["kw"], shape["s"], shape["s"],
                    shape["p"], shape["p"], shape["p"], shape["p"])


def _variant(variant: str) -> tuple[str, bool, bool]:
    """(layout, FP16 word moves, TrainLib-style element loops) of an im2col variant name."""
    return ("row", False, True) if variant == "tl_row" else (variant.split("_")[0], variant.endswith("_vec"), False)


def random_tensor(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random values in [-1, 1) of the dtype (no zeros, so moved zeros are told from data)."""
    x = rng.uniform(-1.0, 1.0, size=shape)
    x = np.where(np.abs(x) < 1e-3, 0.5, x)
    return FLOAT[dtype].round(x)


_I2C_VARIANTS = {"fp32": ("col", "row", "tl_row"), "fp16": ("col_vec", "col", "row", "tl_row"),
                 "bf16": ("col_vec", "col", "row", "tl_row")}

register(KernelDef(
    name="im2col",
    description="im2col / im2row of X[c,h,w] for a kh x kw kernel (forward and weight-gradient patches)",
    dtypes=FLOAT_DTYPES, variants=_I2C_VARIANTS, params=_CONV_PARAMS,
    build=lambda shape, dtype, variant, cores: im2col_program(_geom(shape), dtype, _variant(variant)[0], cores,
                                                              _variant(variant)[1], False, _variant(variant)[2]),
    inputs=lambda shape, dtype, rng: {"X": random_tensor(rng, (shape["c"], shape["h"], shape["w"]), dtype)},
    check=lambda inputs, outputs, shape, dtype, variant: exact_check(
        outputs, {"B": im2col_ref(inputs["X"], _geom(shape), _variant(variant)[0])}),
    macs=lambda shape: 0,
    variant_help={"col": "B[c*kh*kw, ho*wo]", "row": "B[ho*wo, c*kh*kw] (im2row)",
                  "col_vec": "col with FP16 word moves where parities allow",
                  "tl_row": "row, built by PULP-TrainLib-style element loops (bounds checked per element)"},
))

register(KernelDef(
    name="im2col_grad",
    description="input-gradient patches of dY[c,ho,wo]: im2col of dY dilated by the stride in a zero border",
    dtypes=FLOAT_DTYPES, variants=_I2C_VARIANTS, params=_CONV_PARAMS,
    build=lambda shape, dtype, variant, cores: im2col_program(_geom(shape), dtype, _variant(variant)[0], cores,
                                                              _variant(variant)[1], True, _variant(variant)[2]),
    inputs=lambda shape, dtype, rng: {"X": random_tensor(
        rng, (shape["c"], _geom(shape).ho, _geom(shape).wo), dtype)},
    check=lambda inputs, outputs, shape, dtype, variant: exact_check(
        outputs, {"B": im2col_grad_ref(inputs["X"], _geom(shape), _variant(variant)[0])}),
    macs=lambda shape: 0,
    variant_help={"col": "B[c*kh*kw, h*w]", "row": "B[h*w, c*kh*kw]",
                  "col_vec": "col with FP16 word moves where parities allow",
                  "tl_row": "row, built by PULP-TrainLib-style element loops (bounds checked per element)"},
))


def _bt_program(shape: dict, dtype: str, cores: int) -> KernelProgram:
    co, ci, kh, kw = shape["co"], shape["ci"], shape["kh"], shape["kw"]
    asm = Asm("bt")
    emit_block_transpose(asm, co, ci, kh * kw, dtype, "W", "WBT", cores)
    return _program("block_transpose", asm, [Tensor("W", (co, ci, kh, kw), dtype),
                                             Tensor("WBT", (ci, co, kh, kw), dtype, role="output")])


register(KernelDef(
    name="block_transpose",
    description="Wbt[ci,co,kh,kw] = W[co,ci,kh-1-kh,kw-1-kw] (180° kernel flip, Cin/Cout swap)",
    dtypes=FLOAT_DTYPES, variants={d: ("scalar",) for d in FLOAT_DTYPES},
    params=(Param("co", 8, "output channels"), Param("ci", 8, "input channels"),
            Param("kh", 3, "kernel rows"), Param("kw", 3, "kernel columns")),
    build=lambda shape, dtype, variant, cores: _bt_program(shape, dtype, cores),
    inputs=lambda shape, dtype, rng: {"W": random_tensor(
        rng, (shape["co"], shape["ci"], shape["kh"], shape["kw"]), dtype)},
    check=lambda inputs, outputs, shape, dtype, variant: exact_check(
        outputs, {"WBT": block_transpose_ref(inputs["W"])}),
    macs=lambda shape: 0,
))


def _tr_program(shape: dict, dtype: str, cores: int) -> KernelProgram:
    r, c = shape["r"], shape["c"]
    asm = Asm("tr")
    emit_transpose(asm, r, c, dtype, "A", "B", cores)
    return _program("transpose", asm, [Tensor("A", (r, c), dtype), Tensor("B", (c, r), dtype, role="output")])


register(KernelDef(
    name="transpose",
    description="B[c,r] = A[r,c]",
    dtypes=FLOAT_DTYPES, variants={d: ("scalar",) for d in FLOAT_DTYPES},
    params=(Param("r", 16, "rows of A"), Param("c", 16, "columns of A")),
    build=lambda shape, dtype, variant, cores: _tr_program(shape, dtype, cores),
    inputs=lambda shape, dtype, rng: {"A": random_tensor(rng, (shape["r"], shape["c"]), dtype)},
    check=lambda inputs, outputs, shape, dtype, variant: exact_check(outputs, {"B": inputs["A"].T}),
    macs=lambda shape: 0,
))
