"""Engine benchmark: simulated instructions per second, simulated cluster cycles per second and peak
memory, for the compiled engine (c) and the Python reference (py).

    python tools/bench_engine.py [--engines c,py] [--repeat 3]
    python tools/bench_engine.py --matrix [--repeat 3]    # per-instruction-class matrix + start-up

--matrix prints, instead of the workloads, the per-instruction-class matrix of the compiled engine
(ns per simulated instruction, 8 cores, realistic data) and the start-up figure: it runs
tools/bench_matrix.py (see there for the classes and the method; that script has more options).

Workloads:
  (a) int-loop    one core, an integer loop (ALU, load, store, branch)
  (b) fp16-matmul eight cores, an FP16-SIMD matrix multiplication (vfdotpex.s.h and flw in hardware
                  loops) on shared TCDM banks (bank conflicts)
  (c) resnet8-fp16 the ResNet8 FP16 training step (every layer's kernels simulated; seconds include
                  building each kernel program, so this is the end-to-end rate of `mcusim train`)
  (d) conv-ig-fp16 one kernel of that step alone, measured the same way (generating, assembling and
                  simulating it): the FP16 Conv2D input gradient of a 32-channel 16x16 layer, the
                  step's most frequent kind of work (vfdotpex.s.h on real data); (c) against (d) shows
                  whether the cost per instruction stays the same from one kernel to a whole step
  (e) int-matmul  eight cores, an integer matrix multiplication with hardware loops, post-increment
                  loads and p.mac: the kind of program issue 4 quotes GVSoC's speed on
Each run is a fresh subprocess, so peak RSS is that run's own. Module imports happen before the
timer starts.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INT_LOOP = """
    .globl _start
_start:
    li s0, 0x10000000
    li t0, {n}
1:  lw a0, 0(s0)
    addi a0, a0, 3
    xor a1, a1, a0
    sw a1, 4(s0)
    slli a2, a1, 1
    add a3, a3, a2
    addi t0, t0, -1
    bnez t0, 1b
    li a7, 93
    li a0, 0
    ecall
"""

# The matmuls' shared start: each of the 8 cores takes M / 8 rows (s1 to s2) and repeats them `reps`
# times (s3); `row:` begins a row s4.
MATMUL_ROWS = """
    .equ M, {m}
    .equ N, {n}
    .equ K, {k}
    .globl _start
_start:
    core_id s0
    li t0, M / 8
    mul s1, s0, t0                 # first row of this core
    add s2, s1, t0                 # end row
    li s3, {reps}
rep:
    mv s4, s1
row:
"""

# ... and their shared end: the next repetition, then a barrier and exit; the data follow in the TCDM.
MATMUL_END = """    addi s3, s3, -1
    bnez s3, rep
    barrier
    li a7, 93
    li a0, 0
    ecall
    .section .tcdm
    .align 4
"""

# C[M][N] (FP32) = A[M][K] (FP16) x B^T[N][K] (FP16); rows of C split over the 8 cores; the inner
# loop does 2x2 outputs with 4 vfdotpex per 4 loads (K/2 iterations of two FP16 lanes).
FP16_MATMUL = MATMUL_ROWS + """
    li t1, K * 2
    mul t2, s4, t1
    la a0, A
    add a0, a0, t2                 # A row s4
    add a4, a0, t1                 # A row s4+1
    la a1, BT                      # B^T row 0
    li s5, 0
col:
    add a5, a1, t1                 # B^T row +1
    fmv.w.x fa0, zero
    fmv.w.x fa1, zero
    fmv.w.x fa2, zero
    fmv.w.x fa3, zero
    mv a2, a0
    mv a6, a4
    li t3, K / 2
    lp.setup x0, t3, 2f
    flw ft0, 0(a2)
    flw ft1, 0(a1)
    flw ft2, 0(a6)
    flw ft3, 0(a5)
    vfdotpex.s.h fa0, ft0, ft1
    vfdotpex.s.h fa1, ft0, ft3
    vfdotpex.s.h fa2, ft2, ft1
    vfdotpex.s.h fa3, ft2, ft3
    addi a2, a2, 4
    addi a1, a1, 4
    addi a6, a6, 4
2:  addi a5, a5, 4
    addi s5, s5, 2
    li t4, N
    blt s5, t4, col
    addi s4, s4, 2
    blt s4, s2, row
""" + MATMUL_END + """A:  .fill M * K, 2, 0x3c00
BT: .fill N * K, 2, 0x3800
"""


# C[M][N] = A[M][K] x B^T[N][K], 32-bit integers, rows split over the 8 cores; the inner loop is a
# hardware loop of two post-increment loads and a p.mac (one output per pass over K).
INT_MATMUL = MATMUL_ROWS + """
    li t1, K * 4
    mul t2, s4, t1
    la a0, A
    add a0, a0, t2                 # A row s4
    la a1, BT                      # B^T row 0; the loop walks it row after row
    la a4, C
    li t6, N * 4
    mul t6, s4, t6
    add a4, a4, t6                 # C row s4
    li s5, 0
col:
    mv a2, a0
    li a3, 0
    li t3, K
    lp.setup x0, t3, 2f
    p.lw t4, 4(a2!)
    p.lw t5, 4(a1!)
2:  p.mac a3, t4, t5
    p.sw a3, 4(a4!)
    addi s5, s5, 1
    li t6, N
    blt s5, t6, col
    addi s4, s4, 1
    blt s4, s2, row
""" + MATMUL_END + """A:  .fill M * K, 4, 3
BT: .fill N * K, 4, 5
C:  .fill M * N, 4, 0
"""


def workloads(engine: str = "c") -> dict[str, tuple[str, int]]:
    """Sizes give steady-state figures in a few seconds: the Python engine gets a tenth of the work."""
    scale = 1 if engine == "c" else 10
    return {
        "int-loop": (INT_LOOP.format(n=2_000_000 // scale), 1),
        "fp16-matmul": (FP16_MATMUL.format(m=64, n=64, k=64, reps=40 // scale), 8),
        "int-matmul": (INT_MATMUL.format(m=64, n=64, k=64, reps=30 // scale), 8),
    }


def figures(workload: str, engine: str, cores: int, instret: int, cycles: int, seconds: float) -> dict:
    """One run's figures, with this process's peak RSS."""
    return {"workload": workload, "engine": engine, "cores": cores, "instret": instret, "cycles": cycles,
            "seconds": seconds, "instr_per_s": instret / seconds, "cycles_per_s": cycles / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_training_step(engine: str) -> dict:
    """(c): the ResNet8 FP16 training step, every kernel simulated (mcusim train resnet8 --dtype fp16)."""
    from mcusim.workloads.train import simulate_step
    start = time.perf_counter()
    step = simulate_step("resnet8", "fp16", engine=engine, verify=False)
    seconds = time.perf_counter() - start
    # whole-run instructions of every kernel program (the kernel regions plus their short wrappers)
    return figures("resnet8-fp16", engine, 8, step.instret, step.compute_cycles, seconds)


def run_training_kernel(engine: str, icache: str = "ideal") -> dict:
    """(d): one training kernel end to end, from its generator to its outputs (inputs excluded)."""
    import numpy as np
    from mcusim.kernels_asm.kernels import registry
    from mcusim.kernels_asm.kernels.harness import run_kernel
    from mcusim.simulator.config import load_config
    registry.load_all()
    kdef = registry.get("conv2d_ig")
    shape = kdef.full_shape({"ci": 32, "co": 32, "h": 16, "w": 16})
    inputs = kdef.inputs(shape, "fp16", np.random.default_rng(0))
    config = load_config(overrides={"icache": {"model": icache}})
    start = time.perf_counter()
    program = kdef.build(shape, "fp16", kdef.default_variant(shape, "fp16", 8), 8)
    run = run_kernel(program, inputs, 8, config, engine)
    seconds = time.perf_counter() - start
    return figures("conv-ig-fp16", run.result.engine, 8, run.total_instret, run.total_cycles, seconds)


def import_engine_modules() -> None:
    """Import what Cluster imports lazily (the compiled engine's modules), so that no figure times
    module imports: like the modules imported at the top of each run, they are a one-time cost of
    a process, not of a simulation."""
    from mcusim.simulator.cengine import binding
    binding.load()
    import mcusim.simulator.cengine.engine  # noqa: F401
    import mcusim.simulator.profile  # noqa: F401


def run_one(name: str, engine: str, icache: str = "ideal") -> dict:
    """Run one workload in this process and report its figures (`icache`: the instruction-fetch model,
    docs/TIMING.md; the ResNet8 step always runs with the default)."""
    sys.path.insert(0, str(ROOT))
    import_engine_modules()
    if name == "resnet8-fp16":
        return run_training_step(engine)
    if name == "conv-ig-fp16":
        return run_training_kernel(engine, icache)
    from mcusim.kernels_asm import assemble, to_elf
    from mcusim.simulator.cluster import Cluster
    from mcusim.simulator.config import load_config
    from mcusim.simulator.loader import read_elf
    source, cores = workloads(engine)[name]
    image = read_elf(to_elf(assemble(source, name)), name)
    config = load_config(overrides={"icache": {"model": icache}})
    start = time.perf_counter()
    result = Cluster(image, config, cores=cores, engine=engine).run()
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.reason
    return figures(name, result.engine, cores, result.instret, result.cycles, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="c,py")
    parser.add_argument("--workloads", default=",".join([*workloads(), "resnet8-fp16", "conv-ig-fp16"]),
                        help="int-loop, fp16-matmul, int-matmul, resnet8-fp16, conv-ig-fp16 (the last two take minutes "
                             "on the py engine)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the best is kept")
    parser.add_argument("--icache", default="ideal", choices=("ideal", "cache"),
                        help="instruction fetch model (icache.model) of every workload but resnet8-fp16")
    parser.add_argument("--matrix", action="store_true",
                        help="print the per-instruction-class matrix and the start-up figure instead")
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.matrix:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_matrix
        sys.argv = [bench_matrix.__file__, "--startup", "--repeat", str(args.repeat)]
        bench_matrix.main()
        return
    if args.one:
        print(json.dumps(run_one(*args.one, args.icache)))
        return
    print(f"# mcusim engine benchmark — {platform.processor() or platform.machine()}, "
          f"{platform.python_implementation()} {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print("(seconds: building the cluster model from the ELF image plus the simulation)")
    print(f"{'workload':<13} {'engine':<6} {'cores':>5} {'instructions':>13} {'cycles':>11} "
          f"{'seconds':>8} {'M instr/s':>10} {'M cycles/s':>11} {'peak RSS MB':>12}")
    for name in args.workloads.split(","):
        for engine in args.engines.split(","):
            best = None
            for _ in range(args.repeat):
                out = subprocess.run([sys.executable, __file__, "--one", name, engine,
                                      "--icache", args.icache], capture_output=True,
                                     text=True, check=True)
                fig = json.loads(out.stdout.strip().splitlines()[-1])
                if best is None or fig["seconds"] < best["seconds"]:
                    best = fig
            print(f"{name:<13} {best['engine']:<6} {best['cores']:>5} {best['instret']:>13,} {best['cycles']:>11,} "
                  f"{best['seconds']:>8.2f} {best['instr_per_s'] / 1e6:>10.2f} {best['cycles_per_s'] / 1e6:>11.3f} "
                  f"{best['peak_rss_mb']:>12.1f}")


if __name__ == "__main__":
    main()
