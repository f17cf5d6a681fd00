"""Per-instruction-class speed matrix of the compiled engine (issue 13), and the start-up figure.

    python tools/bench_matrix.py [--repeat 3] [--classes add,vfmac.h] [--engine c] [--startup]

Each class is a program in which every one of the 8 worker cores runs a hardware loop whose body is
16 instructions of that class (register sets rotate over four destinations; the load classes add one
pointer reset per body) on realistic data: FP16 and FP32 values drawn from a normal distribution
(seeded), different for each core. The figure is the CPU time of `Cluster.run` (this process's
time.process_time, so that other work on a shared machine counts less; module imports and assembling
excluded) divided by the instructions retired, in ns per simulated
instruction (and its inverse in M instructions/s), best of --repeat runs. The start-up figure is the
wall time of a whole `python -m mcusim run` process on a program that exits at once.
"""
from __future__ import annotations

import argparse
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# One BLAS thread, as the command line does (mcusim.cli._quiet_blas): the data generation imports
# numpy, and OpenBLAS's idle worker threads spin on the other core; process_time counts every thread
# of the process, so they added about 10% to every figure (perf samples in blas_thread_server).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# name -> (register data: "h2" FP16 pairs, "h" NaN-boxed FP16, "s" FP32; body maker i -> line(s))
_A = [f"a{k}" for k in range(8)]


def _rot(template: str) -> list[str]:
    return [template.format(d=i % 4, s=4 + i % 4, t=(i + 1) % 4) for i in range(16)]


def _loads(common_base: bool) -> list[str]:
    # 15 post-increment loads 64 bytes apart (the same bank for one core) and a pointer reset
    return [f"p.lw a{i % 4}, 64(t0!)" for i in range(15)] + ["addi t0, t0, -960"]


CLASSES: dict[str, tuple[str, list[str], str]] = {
    # name: (FP register data, body, pointer setup)
    "add": ("s", _rot("add a{d}, a{d}, a{s}"), ""),
    "mul": ("s", _rot("mul a{d}, a{t}, a{s}"), ""),
    "p.mac": ("s", _rot("p.mac a{d}, a{t}, a{s}"), ""),
    "lw/sw": ("s", [f"{'lw' if i % 2 else 'sw'} a{i % 4}, {4 * (i // 2)}(t0)" for i in range(16)], "own"),
    "p.lw no conflicts": ("s", _loads(False), "own"),
    "p.lw heavy conflicts": ("s", _loads(True), "common"),
    "fadd.s": ("s", _rot("fadd.s fa{d}, fa{d}, ft{s}"), ""),
    "fmul.s": ("s", _rot("fmul.s fa{d}, ft{t}, ft{s}"), ""),
    "fmadd.s": ("s", _rot("fmadd.s fa{d}, ft{d}, ft{s}, fa{d}"), ""),
    "fdiv.s": ("s", _rot("fdiv.s fa{d}, ft{d}, ft{s}"), ""),
    "fcvt.h.s": ("s", _rot("fcvt.h.s fa{d}, ft{s}"), ""),
    "fle.s": ("s", _rot("fle.s a{d}, ft{d}, ft{s}"), ""),
    "fmin.s": ("s", _rot("fmin.s fa{d}, ft{d}, ft{s}"), ""),
    "fsgnj.s": ("s", _rot("fsgnjx.s fa{d}, ft{d}, ft{s}"), ""),
    "fadd.h": ("h", _rot("fadd.h fa{d}, fa{d}, ft{s}"), ""),
    "fmul.h": ("h", _rot("fmul.h fa{d}, ft{t}, ft{s}"), ""),
    "fmadd.h": ("h", _rot("fmadd.h fa{d}, ft{d}, ft{s}, fa{d}"), ""),
    "fcvt.s.h": ("h", _rot("fcvt.s.h fa{d}, ft{s}"), ""),
    "fmax.h": ("h", _rot("fmax.h fa{d}, ft{d}, ft{s}"), ""),
    "vfadd.h": ("h2", _rot("vfadd.h fa{d}, fa{d}, ft{s}"), ""),
    "vfmul.h": ("h2", _rot("vfmul.h fa{d}, ft{t}, ft{s}"), ""),
    "vfmac.h": ("h2", _rot("vfmac.h fa{d}, ft{d}, ft{s}"), ""),
    "vfmac.r.h": ("h2", _rot("vfmac.r.h fa{d}, ft{d}, ft{s}"), ""),
    "vfdotpex.s.h": ("h2", _rot("vfdotpex.s.h fa{d}, ft{d}, ft{s}"), ""),
    "vfcpka.h.s": ("s", _rot("vfcpka.h.s fa{d}, ft{d}, ft{s}"), ""),
    "vfmax.h": ("h2", _rot("vfmax.h fa{d}, ft{d}, ft{s}"), ""),
    "csrr mcycle": ("s", _rot("csrr a{d}, mcycle"), ""),
    "csrr mhartid": ("s", _rot("csrr a{d}, mhartid"), ""),
    "flw/fsw": ("s", [f"{'flw' if i % 2 else 'fsw'} fa{i % 4}, {4 * (i // 2)}(t0)" for i in range(16)], "own"),
    # system instructions in the compiled loop: console writes of 1 byte (the output goes to a sink,
    # not the terminal), and traps into a handler that returns with mret (ebreak and an add in turn;
    # the handler's 4 instructions retire, the trapping ebreak does not)
    "ecall write": ("s", ["ecall"] * 16, "console"),
    "trap+mret": ("s", ["ebreak" if i % 2 == 0 else "add a{0}, a{0}, a4".format(i // 2 % 4) for i in range(16)],
                  "trap"),
    # the instruction pair PULP-TrainLib's FP16 kernels are made of: post-increment loads of FP16
    # vectors and vfmac.h (here the loaded words move to f registers with fmv.w.x)
    "loop p.lw+vfmac.h": ("h2", [line for k in range(4) for line in (
        f"p.lw a{k}, 4(t0!)", f"fmv.w.x ft{k}, a{k}", f"vfmac.h fa{k}, ft{k}, ft{4 + k}",
        f"vfmac.h fa{4 + k}, ft{k}, ft{8 + k}")], "stream"),
}


def program(name: str, iters: int, seed: int = 1) -> str:
    """The 8-core program of class `name`, `iters` passes of its 16-instruction body."""
    import numpy as np
    fmt, body, pointer = CLASSES[name]
    rng = np.random.default_rng(seed)
    words: list[int] = []
    for _core in range(8):                      # 24 FP registers' and 8 x registers' data per core
        v = rng.normal(0.0, 1.0, 48)
        halves = v.astype(np.float16).view(np.uint16).astype(np.uint32)
        if fmt == "h2":
            words += [int(halves[2 * k] | halves[2 * k + 1] << 16) for k in range(24)]
        elif fmt == "h":
            words += [int(0xFFFF0000 | halves[k]) for k in range(24)]
        else:
            words += [struct.unpack("<I", struct.pack("<f", float(x)))[0] for x in v[:24]]
        words += [int(x) for x in rng.integers(1, 1 << 16, 8)]
    fregs = [f"ft{k}" for k in range(12)] + [f"fa{k}" for k in range(8)] + [f"fs{k}" for k in range(4)]
    setup = ["core_id s0", "li t1, 128", "mul t1, t1, s0", "la t2, REGS", "add t2, t2, t1"]
    setup += [f"flw {r}, {4 * k}(t2)" for k, r in enumerate(fregs)]
    setup += [f"lw a{k}, {96 + 4 * k}(t2)" for k in range(8)]
    if pointer == "own":                         # this core's own bank
        setup += ["la t0, BUF", "slli t1, s0, 2", "add t0, t0, t1"]
    elif pointer == "common":                    # every core on the same bank
        setup += ["la t0, BUF"]
    elif pointer == "stream":                    # walk this core's own 1 KiB of FP16 data
        setup += ["la t0, STREAM", "slli t1, s0, 10", "add t0, t0, t1"]
    elif pointer == "console":                   # write(1, BUF, 1)
        setup += ["li a0, 1", "la a1, BUF", "li a2, 1", "li a7, 64"]   # a0 = 1 again after each
    elif pointer == "trap":                      # the handler skips the trapping instruction
        setup += ["la t4, handler", "csrw mtvec, t4"]
    loop_body = list(body)
    src = ["    .globl _start", "_start:", *("    " + s for s in setup),
           f"    li s1, {iters}", "outer:", "    li t3, 64" if pointer == "stream" else "    li t3, 16",
           "    lp.setup x0, t3, 2f"]
    for k, line in enumerate(loop_body):
        src.append(("2:  " if k == len(loop_body) - 1 else "    ") + line)
    if pointer == "stream":
        src += ["    addi t0, t0, -1024"]
    src += ["    addi s1, s1, -1", "    bnez s1, outer", "    barrier", "    li a7, 93", "    li a0, 0", "    ecall"]
    if pointer == "trap":
        src += ["handler:", "    csrr t4, mepc", "    addi t4, t4, 4", "    csrw mepc, t4", "    mret"]
    src += ["    .section .tcdm", "    .align 4", "REGS:"]
    src += [f"    .word {w:#x}" for w in words]
    src += ["BUF: .fill 1024, 4, 0x3c003c00"]
    if pointer == "stream":
        stream = rng.normal(0.0, 1.0, 8 * 512).astype(np.float16).view(np.uint16)
        src.append("STREAM:")
        src += [f"    .word {int(stream[2 * k]) | int(stream[2 * k + 1]) << 16:#x}" for k in range(8 * 256)]
    return "\n".join(src) + "\n"


def _sink(fd: int, data: bytes) -> None:
    """A console that drops the program's output."""


def measure(name: str, engine: str, iters: int, cores: int = 8) -> tuple[int, float]:
    """(instructions retired, seconds of Cluster.run) of one run."""
    from mcusim.kernels_asm import assemble, to_elf
    from mcusim.simulator.cluster import Cluster
    from mcusim.simulator.config import load_config
    from mcusim.simulator.loader import read_elf
    image = read_elf(to_elf(assemble(program(name, iters), name)), name)
    config = load_config()
    start = time.process_time()
    cluster = Cluster(image, config, cores=cores, engine=engine)
    for c in cluster.cores:                      # console output (class "ecall write") to a sink
        c.hart.console = _sink
    result = cluster.run()
    seconds = time.process_time() - start
    assert result.exit_code == 0, result.reason
    return result.instret, seconds


def class_figure(name: str, engine: str, repeat: int, target_s: float = 0.4, cores: int = 8) -> tuple[float, int]:
    """(best ns per instruction, instructions per run) of class `name`; the size is calibrated so a
    run takes about target_s."""
    _, small = measure(name, engine, 20, cores)
    _, large = measure(name, engine, 120, cores)
    per_iter = max((large - small) / 100, large / 120 / 4, 1e-9)
    iters = max(20, min(400_000, int(target_s / per_iter)))
    best = None
    for _ in range(repeat):
        instret, seconds = measure(name, engine, iters, cores)
        ns = seconds / instret * 1e9
        best = ns if best is None else min(best, ns)
    return best, instret


def startup_seconds(repeat: int) -> float:
    """Best wall time of a `python -m mcusim run` process on a program that exits at once."""
    src = "    .globl _start\n_start:\n    li a7, 93\n    li a0, 0\n    ecall\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "empty.s")
        Path(path).write_text(src)
        # as installed: compiled bytecode cached (PYTHONDONTWRITEBYTECODE unset), one warm-up run
        env = {name: v for name, v in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
        best = None
        for k in range(repeat + 1):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mcusim", "run", path], cwd=ROOT, check=True,
                           capture_output=True, env=env)
            s = time.perf_counter() - start
            if k > 0:
                best = s if best is None else min(best, s)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    parser.add_argument("--classes", default=",".join(CLASSES), help="comma-separated class names")
    parser.add_argument("--engine", default="c")
    parser.add_argument("--cores", default="8",
                        help="comma-separated worker-core counts (1-8): a column per count, ns per instruction")
    parser.add_argument("--startup", action="store_true", help="also measure the start-up figure")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from mcusim.simulator.cengine import binding
    binding.load()
    import mcusim.simulator.cengine.engine  # noqa: F401  (imported before any timer)
    counts = [int(k) for k in args.cores.split(",")]
    print(f"# per-class matrix, engine {args.engine}, {counts[0]} cores, best of {args.repeat}: "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{platform.python_implementation()} {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    extra = "".join(f" ns @{k} cores |" for k in counts[1:])
    print(f"| {'class':<22} | {'ns/instr':>8} | {'M instr/s':>9} | {'x add':>5} |{extra}")
    print(f"|{'-' * 24}|{'-' * 10}|{'-' * 11}|{'-' * 7}|" + "".join(f"{'-' * 14}|" for _ in counts[1:]))
    base = None
    for name in args.classes.split(","):
        ns, _ = class_figure(name, args.engine, args.repeat, cores=counts[0])
        if name == "add":
            base = ns
        ratio = f"{ns / base:5.2f}" if base else "    -"
        more = "".join(f" {class_figure(name, args.engine, args.repeat, cores=k)[0]:12.1f} |" for k in counts[1:])
        print(f"| {name:<22} | {ns:8.1f} | {1e3 / ns:9.1f} | {ratio} |{more}", flush=True)
    if args.startup:
        print(f"start-up (`mcusim run` of an empty program, whole process): {startup_seconds(args.repeat):.3f} s")


if __name__ == "__main__":
    main()
