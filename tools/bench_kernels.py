"""Benchmark the matmul kernels and write docs/KERNELS.md.

    python tools/bench_kernels.py [--quick] [--size S] [--engine py] [--jobs N] [--out FILE]

Every variant of `matmul` (FP32, FP16) and `matmul_bt` (FP32, FP16) at m = n = k = S (128; 32
with --quick) on 1 and 8 cores of the default cluster: cycles of the kernel region, MAC/clk, the
variant's issue-bound ceiling (MACs per instruction of its k-loop body x cores), the 8-core speedup
and the correctness check. Then the layer kernels at ResNet8-like shapes, and the Conv2D input
gradient of every stride-2 layer of ResNet8 and DS-CNN: the dilated im2col forms beside the phase
sub-convolution variants (unless --no-layers or --only). Runs take minutes on the pure-Python engine (jobs run in parallel
processes; --jobs defaults to the machine's CPU count).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUITES = (("matmul", "fp32"), ("matmul", "fp16"), ("matmul", "bf16"), ("matmul_bt", "fp32"), ("matmul_bt", "fp16"),
          ("matmul_bt", "bf16"))
CORES = (1, 8)
TARGETS = {"fp32": 4.5, "fp16": 9.5}     # MAC/clk on 8 cores (best variant); bf16 has none (no issue set one)
TARGET_SPEEDUP = 7.5
# Layer kernels at shapes of ResNet8's first stack (16 channels, 32x32) and its classifier.
LAYER_SHAPES: dict[str, dict[str, int]] = {
    **{f"conv2d_{ph}": {"ci": 16, "co": 16, "h": 16, "w": 16, "kh": 3, "kw": 3, "s": 1, "p": 1}
       for ph in ("fw", "wg", "ig")},
    **{f"pointwise_{ph}": {"ci": 16, "co": 32, "h": 16, "w": 16} for ph in ("fw", "wg", "ig")},
    **{f"depthwise_{ph}": {"c": 64, "h": 25, "w": 5, "kh": 3, "kw": 3, "s": 1, "p": 1} for ph in ("fw", "wg", "ig")},
    **{f"linear_{ph}": {"ci": 64, "co": 10} for ph in ("fw", "wg", "ig")},
    "relu": {"n": 16 * 32 * 32}, "relu_bwd": {"n": 16 * 32 * 32}, "add": {"n": 16 * 32 * 32},
    "maxpool": {"c": 16, "h": 32, "w": 32, "k": 2, "s": 2}, "maxpool_bwd": {"c": 16, "h": 32, "w": 32, "k": 2, "s": 2},
    "avgpool": {"c": 16, "h": 32, "w": 32, "k": 2, "s": 2}, "avgpool_bwd": {"c": 16, "h": 32, "w": 32, "k": 2, "s": 2},
    "crossentropy": {"n": 10}, "mse": {"n": 10}, "sgd": {"n": 16 * 16 * 9}, "cast": {"n": 16 * 32 * 32},
    "im2col": {"c": 16, "h": 16, "w": 16, "kh": 3, "kw": 3, "s": 1, "p": 1},
    "im2col_grad": {"c": 16, "h": 16, "w": 16, "kh": 3, "kw": 3, "s": 1, "p": 1},
    "block_transpose": {"co": 16, "ci": 16, "kh": 3, "kw": 3}, "transpose": {"r": 64, "c": 64},
}


def run_one(job: tuple[str, str, str, int, int, str]) -> dict:
    from mcusim.kernels_asm.kernels import registry
    from mcusim.simulator.config import load_config
    kernel, dtype, variant, cores, size, engine = job
    kdef = registry.get(kernel)
    shape = LAYER_SHAPES[kernel] if kernel in LAYER_SHAPES else {"m": size, "n": size, "k": size}
    shape = {p.name: shape.get(p.name, p.default) for p in kdef.params}
    t0 = time.time()
    cfg = load_config()
    if (kernel, variant) in TRAINLIB and kernel.startswith("depthwise"):
        # its im2row buffer (pixels x channels x taps) outgrows the TCDM at DS-CNN's 64-channel layer
        # (the step tiles the channels); bank mapping and timing are unchanged
        import dataclasses
        cfg = dataclasses.replace(cfg, tcdm=dataclasses.replace(cfg.tcdm, size_kib=BIG_TCDM_KIB))
    out = registry.run(kdef, shape, dtype, variant, cores, cfg, seed=1, engine=engine)
    ceiling = kdef.ceiling(shape, dtype, variant) if kdef.ceiling else None
    return {"kernel": kernel, "dtype": dtype, "variant": variant, "cores": cores,
            "cycles": out.run.cycles, "instret": out.run.instret, "macs": out.macs,
            "mac_per_clk": out.mac_per_clk, "ceiling": ceiling, "correct": out.check.ok,
            "stalls": out.run.stalls(), "seconds": time.time() - t0}


# PULP-TrainLib-style variants (conv_trainlib.py, dw_trainlib.py, layers_linear.py,
# transforms.emit_im2row_loops) beside the defaults, 8 cores, at the LAYER_SHAPES shapes
TRAINLIB = (*((f"{kind}_{ph}", "trainlib") for kind in ("conv2d", "pointwise", "depthwise", "linear")
              for ph in ("fw", "wg", "ig")),
            ("im2col", "tl_row"), ("im2col_grad", "tl_row"))
TRAINLIB_TITLE = "## PULP-TrainLib-style variants"


def _trainlib_section(results: list[dict]) -> list[str]:
    default = {(r["kernel"], r["dtype"]): r for r in results
               if r["cores"] == 8 and (r["kernel"], r["variant"]) not in TRAINLIB and r["kernel"] in LAYER_SHAPES}
    lines = ["", TRAINLIB_TITLE, "",
             ("The way PULP-TrainLib's paper-era C primitives work (facts from its public sources; "
              "`kernels_asm/kernels/conv_trainlib.py`, `dw_trainlib.py`, `layers_linear.py`): im2row by "
              "element loops with run-time bounds checks, one parallel region per primitive. Conv2D and "
              "PointWise: 2x4 matmuls with FP16 v2f16 accumulation (`simd_2x4` for A·B, matmul_bt `tl_2x4` "
              "for A·Bᵀ: vfmac.h lanes summed in FP16, no vfdotpex), FP32 2x4 fmadd.s; PointWise needs no "
              "im2row (its input gradient transposes W first). DepthWise: im2row, then per output and "
              "channel a scalar accumulation over the taps (the weight gradient: over the pixels), FP16 "
              "fmadd.h into an FP16 accumulator, channels in ceil(C/cores) blocks. Linear: the naive "
              "matmuls (scalar accumulation, ceil blocks). Same shapes as the table above, 8 cores "
              f"(the DepthWise `trainlib` rows with the TCDM enlarged to {BIG_TCDM_KIB} KiB: their im2row "
              "buffer does not fit the default; bank mapping and timing unchanged); `default` = the "
              "variant the library chooses."), "",
             "| kernel | dtype | variant | cycles | MAC/clk | default | default cycles | default MAC/clk | ok |",
             "|---|---|---|---:|---:|---|---:|---:|---|"]
    for r in results:
        if (r["kernel"], r["variant"]) not in TRAINLIB or r["cores"] != 8:
            continue
        d = default.get((r["kernel"], r["dtype"]))
        mpc = lambda x: f"{x['mac_per_clk']:.2f}" if x["macs"] else "-"
        lines.append(f"| `{r['kernel']}` | {r['dtype']} | `{r['variant']}` | {r['cycles']:,} | {mpc(r)} | "
                     + (f"`{d['variant']}` | {d['cycles']:,} | {mpc(d)}" if d else "- | - | -")
                     + f" | {'yes' if r['correct'] else '**NO**'} |")
    return lines


# Conv2D input gradients with stride > 1 in the built-in networks: (network, layer)
STRIDED_IG = (("resnet8", "s2_conv1"), ("resnet8", "s3_conv1"), ("resnet8", "s2_add_shortcut"),
              ("resnet8", "s3_add_shortcut"), ("dscnn", "conv1"))
BIG_TCDM_KIB = 2048      # the dilated im2col's patches need more than the default TCDM (as in `mcusim train`)


def strided_jobs(engine: str) -> list[tuple]:
    """(network, layer, dtype, variant, engine): the im2col forms and every phase variant."""
    from mcusim.kernels_asm.kernels.layers_conv import EXTRA_VARIANTS
    return [(net, layer, dtype, v, engine) for net, layer in STRIDED_IG for dtype in ("fp32", "fp16")
            for v in ("ab", "abt", *EXTRA_VARIANTS["ig"])]


def run_strided(job: tuple[str, str, str, str, str]) -> dict:
    """One input-gradient program of a network layer on 8 cores (TCDM enlarged to BIG_TCDM_KIB)."""
    import dataclasses

    import numpy as np

    from mcusim.kernels_asm.kernels.harness import HarnessError, run_kernel
    from mcusim.kernels_asm.kernels.layers_conv import conv2d_choose, conv2d_geom_check, conv2d_program
    from mcusim.kernels_asm.kernels.transforms import ConvGeom, random_tensor
    from mcusim.simulator.config import load_config
    from mcusim.workloads import model, networks
    net, layer, dtype, variant, engine = job
    lay = next(x for x in model.build(networks.get(net)).layers if x.name == layer)
    g, co = ConvGeom(*lay.conv_geom_args()), lay.out_shape[0]
    cfg = load_config()
    cfg = dataclasses.replace(cfg, tcdm=dataclasses.replace(cfg.tcdm, size_kib=BIG_TCDM_KIB))
    rng = np.random.default_rng(1)
    inputs = {"W": random_tensor(rng, (co, g.c * g.kk), dtype), "DY": random_tensor(rng, (co, g.ho * g.wo), dtype)}
    prog = conv2d_program(g, co, "ig", dtype, variant, 8)
    issued = sum(mm.m * mm.n * mm.k for mm, _ in prog.meta["matmuls"])
    out = {"net": net, "layer": layer, "dtype": dtype, "variant": variant, "geom": g, "co": co,
           "macs": co * g.c * g.kk * g.ho * g.wo, "issued": issued,
           "chosen": conv2d_choose(g, co, "ig", dtype, 8) == variant, "cycles": None, "correct": True}
    try:
        run = run_kernel(prog, inputs, 8, cfg, engine)
    except HarnessError:            # the dilated patches do not fit even the enlarged TCDM
        return out
    out.update(cycles=run.cycles, correct=conv2d_geom_check(inputs, run.outputs, g, co, "ig", dtype, variant).ok)
    return out


def _strided_section(rows: list[dict]) -> list[str]:
    lines = ["", "## Conv2D input gradient with stride > 1: dilated im2col vs phase sub-convolutions", "",
             ("Every stride-2 convolution of ResNet8 and DS-CNN (their exact geometries, 'same' padding "
              "included), 8 cores, the default cluster with the TCDM enlarged to "
              f"{BIG_TCDM_KIB} KiB so that the dilated im2col's patches fit (bank mapping and timing are "
              "unchanged; the im2col of DS-CNN's conv1 needs more than that). MACs = Co·Ci·Kh·Kw·Ho·Wo, the "
              "useful products (the forward's count, the one `mcusim train` reports); `issued` = the "
              "products the variant's matmuls execute (the dilated im2col multiplies Co·Ci·Kh·Kw·H·W, "
              "zeros included). `ab`/`abt`: the im2col forms (layers_conv.py); `poly*`: "
              "conv_polyphase.py; `trainlib`: the PULP-TrainLib-style phase (conv_trainlib.py, dilated "
              "dY like `abt`); ← = the variant `conv2d_choose` takes."), "",
             "| layer | dtype | variant | cycles | MACs | issued | MAC/clk | vs best im2col | ok |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for net, layer in STRIDED_IG:
        for dtype in ("fp32", "fp16"):
            group = [r for r in rows if (r["net"], r["layer"], r["dtype"]) == (net, layer, dtype)]
            old = [r["cycles"] for r in group if r["variant"] in ("ab", "abt") and r["cycles"]]
            best_old = min(old) if old else None
            for r in group:
                cyc = r["cycles"]
                lines.append(
                    f"| {net} {layer} | {dtype} | `{r['variant']}`{' ←' if r['chosen'] else ''} | "
                    + (f"{cyc:,}" if cyc else "does not fit") + f" | {r['macs']:,} | {r['issued']:,} | "
                    + (f"{r['macs'] / cyc:.2f}" if cyc else "-") + " | "
                    + (f"{best_old / cyc:.2f}x" if cyc and best_old else "-") + " | "
                    + ("yes" if r["correct"] else "**NO**") + " |")
    return lines


def _family(kernel: str, dtype: str, variant: str) -> str:
    from mcusim.kernels_asm.kernels.matmul_fp16 import variants
    v = variants(kernel == "matmul_bt", dtype)[variant]
    return v.family.instr


def _variant_section() -> list[str]:
    """What each variant is (from the generators' own descriptions)."""
    from mcusim.kernels_asm.kernels.matmul_fp16 import HALF_VARIANTS
    from mcusim.kernels_asm.kernels.matmul_fp32 import FP32_VARIANTS
    acc = {"f32": "FP32", "f16": "FP32", "dotp": "FP32", "vfmac": "16-bit", "tl_dot": "16-bit"}
    lines = ["## Variants", "",
             ("Work split over rows of C (ceil(m / cores) rows per core) unless the name ends in `_cols` "
             "(columns of C split over the cores, for C with fewer rows than cores). `RxW`: R rows x W "
             "columns of C held in registers; leftover rows and columns use smaller blocks, so every "
             "shape works. Generators: `kernels_asm/kernels/matmul_fp32.py`, `matmul_fp16.py`."), "",
             "| kernels | dtype | variant | instruction | accumulator | what |", "|---|---|---|---|---|---|"]
    tables = [("matmul, matmul_bt", "fp32", FP32_VARIANTS)]
    for half, (b_table, bt_table) in HALF_VARIANTS.items():
        tables += [("matmul", half, b_table), ("matmul_bt", half, bt_table)]
    for kernels, dtype, table in tables:
        for name, v in table.items():
            where = acc[v.family.name].replace("16-bit", dtype.upper())
            lines.append(f"| {kernels} | {dtype} | `{name}` | `{v.family.instr}` | {where} | {v.help} |")
    return lines + [""]


def render(results: list[dict], size: int, engine: str, elapsed: float, argv: list[str],
           strided: list[dict] | None = None) -> str:
    from mcusim.simulator import ifetch
    from mcusim.simulator.config import load_config
    by = {(r["kernel"], r["dtype"], r["variant"], r["cores"]): r for r in results}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10, check=False).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        untracked = subprocess.run(["git", "status", "--porcelain", "kernels_asm", "tools"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        if dirty or untracked:
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    lines = [
        "# Kernel performance",
        "",
        "Generated by `tools/bench_kernels.py`; do not edit. Reproduce with",
        "",
        "```sh",
        f"python tools/bench_kernels.py {' '.join(argv)}".rstrip(),
        "```",
        "",
        (f"- shape: m = n = k = {size} (C = A·B or A·Bᵀ, m x n, inner dimension k), random inputs in "
        "[-1, 1] (seed 1), every result checked (column `ok`)"),
        ("- cluster: the default configuration (`docs/CONFIG.md`: 16 TCDM banks, 8 private FPUs, FPU "
        "latency 1, load-use stall 1)"),
        f"- {ifetch.describe(load_config().icache)}; each run starts cold, as a kernel's first call does",
        (f"- engine: {engine}; machine: {platform.machine()} {platform.processor() or ''} "
        f"({os.cpu_count()} CPUs), Python {platform.python_version()}, {platform.system()}; "
        f"mcusim commit {commit}"),
        f"- date: {datetime.date.today().isoformat()}; benchmark time {elapsed / 60:.1f} min",
        "",
        ("Columns: cycles of the kernel region (max over cores, final barrier included); MAC/clk = "
        "m·n·k / cycles; ceiling = MACs per instruction of the variant's k-loop body (issue-bound, one "
        "instruction per cycle) x cores; speedup = 1-core cycles / 8-core cycles."),
        "",
    ]
    lines += _variant_section()
    summary = []
    for kernel, dtype in SUITES:
        rows = [r for r in results if r["kernel"] == kernel and r["dtype"] == dtype and r["cores"] == 1]
        if not rows:
            continue
        title = "C = A·B" if kernel == "matmul" else "C = A·Bᵀ"
        lines += [f"## `{kernel}` {dtype} ({title})", "",
                  ("| variant | instruction | cycles 1 core | MAC/clk 1 core | ceiling 1 | cycles 8 cores "
                  "| MAC/clk 8 cores | ceiling 8 | speedup | ok |"),
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r1 in rows:
            r8 = by.get((kernel, dtype, r1["variant"], 8))
            ceil = r1["ceiling"]
            cells = [f"`{r1['variant']}`", f"`{_family(kernel, dtype, r1['variant'])}`",
                     f"{r1['cycles']:,}", f"{r1['mac_per_clk']:.3f}",
                     f"{ceil:.3f}" if ceil else "-"]
            if r8:
                cells += [f"{r8['cycles']:,}", f"{r8['mac_per_clk']:.3f}",
                          f"{ceil * 8:.2f}" if ceil else "-", f"{r1['cycles'] / r8['cycles']:.2f}x"]
            else:
                cells += ["-"] * 4
            ok = r1["correct"] and (r8 is None or r8["correct"])
            cells.append("yes" if ok else "**NO**")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        eight = [r for r in results if r["kernel"] == kernel and r["dtype"] == dtype and r["cores"] == 8]
        if eight:
            best = max(eight, key=lambda r: r["mac_per_clk"])
            one = by.get((kernel, dtype, best["variant"], 1))
            speed = one["cycles"] / best["cycles"] if one else float("nan")
            summary.append((kernel, dtype, best["variant"], best["mac_per_clk"], speed))
    if summary:
        lines += ["## Best variants on 8 cores", "",
                  ("| kernel | dtype | variant | MAC/clk | target | speedup (target "
                  f"{TARGET_SPEEDUP}x) |"), "|---|---|---|---:|---:|---:|"]
        for kernel, dtype, variant, mpc, speed in summary:
            target = TARGETS.get(dtype) if size == 128 else None
            mark = "" if target is None else (" (met)" if mpc >= target else " (**missed**)")
            smark = "" if size != 128 else (" (met)" if speed >= TARGET_SPEEDUP else " (**missed**)")
            lines.append(f"| `{kernel}` | {dtype} | `{variant}` | {mpc:.2f}{mark} | "
                         f"{target if target is not None else '-'} | {speed:.2f}x{smark} |")
        lines.append("")
        if size != 128:
            lines += ["Targets apply to m = n = k = 128; this run used a smaller shape (--quick or --size).", ""]
    lines += [
        "## Where the cycles go",
        "",
        ("Stall cycles of the kernel region on 8 cores, summed over the cores, as a share of "
        "8 x cycles:"),
        "",
        ("| kernel | dtype | variant | TCDM contention | load-use | FPU latency | barrier (imbalance) | "
        "branch + jump | other |"),
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted((r for r in results if r["cores"] == 8 and (r["kernel"], r["dtype"]) in SUITES),
                    key=lambda r: (SUITES.index((r["kernel"], r["dtype"])), r["variant"])):
        total = 8 * r["cycles"]
        s = r["stalls"]
        known = ("tcdm_contention", "load_use", "fpu_latency", "barrier", "branch", "jump")
        other = sum(v for k, v in s.items() if k not in known)
        cells = [s["tcdm_contention"], s["load_use"], s["fpu_latency"], s["barrier"],
                 s["branch"] + s["jump"], other]
        lines.append(f"| `{r['kernel']}` | {r['dtype']} | `{r['variant']}` | "
                     + " | ".join(f"{100 * v / total:.1f} %" for v in cells) + " |")
    layer_rows = [r for r in results if r["kernel"] in LAYER_SHAPES and (r["kernel"], r["variant"]) not in TRAINLIB]
    if layer_rows:
        lines += ["", "## Layer kernels at ResNet8-like shapes", "",
                  "Default variant of each kernel (`mcusim kernel NAME` without `--variant`); shapes in "
                  "`tools/bench_kernels.py` (LAYER_SHAPES): convolutions 16->16 channels 3x3 on 16x16 (a 32x32 one needs tiling: 576 KiB of patches), "
                  "pointwise 16->32 on 16x16, depthwise 64 channels on DS-CNN's 25x5, linear 64->10, "
                  "element-wise on 16x32x32.", "",
                  "| kernel | dtype | variant | cycles 1 core | cycles 8 cores | MACs | MAC/clk 8 cores | speedup | ok |",
                  "|---|---|---|---:|---:|---:|---:|---:|---|"]
        by_kernel: dict[tuple[str, str], dict[int, dict]] = {}
        for r in layer_rows:
            by_kernel.setdefault((r["kernel"], r["dtype"]), {})[r["cores"]] = r
        for (kernel, dtype), rows in by_kernel.items():
            one, eight = rows.get(1), rows.get(8)
            if not one or not eight:
                continue
            mpc = f"{eight['mac_per_clk']:.2f}" if eight["macs"] else "-"
            lines.append(f"| `{kernel}` | {dtype} | `{eight['variant']}` | {one['cycles']:,} | {eight['cycles']:,} | "
                         f"{eight['macs']:,} | {mpc} | {one['cycles'] / eight['cycles']:.2f}x | "
                         f"{'yes' if one['correct'] and eight['correct'] else 'NO'} |")
    if any((r["kernel"], r["variant"]) in TRAINLIB for r in results):
        lines += _trainlib_section(results)
    if strided:
        lines += _strided_section(strided)
    lines += ["", ("How the kernels are built: `kernels_asm/kernels/matmul_fp32.py` (framework, FP32) and "
              "`matmul_fp16.py` (FP16 families, checks); run one with `mcusim kernel matmul --m 128 --n 128 "
              "--k 128 --dtype fp16 --cores 8`."), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="m = n = k = 32 instead of 128")
    p.add_argument("--size", type=int, default=None, help="m = n = k (default 128, 32 with --quick)")
    p.add_argument("--engine", default="c", help="simulation engine (default c; py gives identical figures, slower)")
    p.add_argument("--no-layers", action="store_true", help="only the matmul variants")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument("--out", default=str(ROOT / "docs" / "KERNELS.md"), help="output file")
    p.add_argument("--only", default=None, help="comma-separated kernel:dtype suites, e.g. matmul:fp16")
    p.add_argument("--section", choices=("trainlib",), default=None,
                   help="re-measure only that section (trainlib: the PULP-TrainLib-style variants and their "
                        "defaults) and rewrite it in the existing --out file, with its own date and load")
    args = p.parse_args(argv)
    size = args.size or (32 if args.quick else 128)
    from mcusim.kernels_asm.kernels import registry
    if args.section == "trainlib":
        return _trainlib_only(args)
    suites = SUITES if not args.only else tuple(tuple(s.split(":")) for s in args.only.split(","))
    jobs = []
    for kernel, dtype in suites:
        for variant in registry.get(kernel).variants[dtype]:
            for cores in CORES:
                jobs.append((kernel, dtype, variant, cores, size, args.engine))
    if not args.no_layers and not args.only:
        for kernel in LAYER_SHAPES:
            kdef = registry.get(kernel)
            for dtype in kdef.dtypes:
                variant = kdef.choose(LAYER_SHAPES[kernel] | {p.name: p.default for p in kdef.params
                                                                if p.name not in LAYER_SHAPES[kernel]},
                                      dtype, 8) if kdef.choose else kdef.variants[dtype][0]
                for cores in CORES:
                    jobs.append((kernel, dtype, variant, cores, size, args.engine))
        jobs += [(kernel, dtype, variant, 8, size, args.engine) for kernel, variant in TRAINLIB
                 for dtype in ("fp32", "fp16")]
    order = {j[:4]: i for i, j in enumerate(jobs)}
    # longest first (naive variants, one core) so the pool stays busy
    jobs.sort(key=lambda j: ("naive" not in j[2], j[3]))
    t0 = time.time()
    results = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for res in pool.map(run_one, jobs):
            results.append(res)
            print(f"{res['kernel']:10} {res['dtype']} {res['variant']:14} {res['cores']} cores: "
                  f"{res['cycles']:>10,} cycles {res['mac_per_clk']:6.3f} MAC/clk "
                  f"{'ok' if res['correct'] else 'WRONG'} ({res['seconds']:.0f} s)", file=sys.stderr)
        strided = []
        if not args.no_layers and not args.only:
            for res in pool.map(run_strided, strided_jobs(args.engine)):
                strided.append(res)
                print(f"{res['net']} {res['layer']:16} {res['dtype']} {res['variant']:10}: "
                      f"{res['cycles'] or 0:>10,} cycles {'ok' if res['correct'] else 'WRONG'}", file=sys.stderr)
    results.sort(key=lambda r: order.get((r["kernel"], r["dtype"], r["variant"], r["cores"]), 0))
    text = render(results, size, args.engine, time.time() - t0, argv, strided)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r["correct"] for r in results + strided) else 1


def _default_variant(kernel: str, dtype: str) -> str:
    from mcusim.kernels_asm.kernels import registry
    kdef = registry.get(kernel)
    shape = LAYER_SHAPES[kernel] | {p.name: p.default for p in kdef.params if p.name not in LAYER_SHAPES[kernel]}
    return kdef.choose(shape, dtype, 8) if kdef.choose else kdef.variants[dtype][0]


def _trainlib_only(args: argparse.Namespace) -> int:
    """`--section trainlib`: the TrainLib-style jobs and their defaults (8 cores), spliced into --out."""
    out = Path(args.out)
    text = out.read_text() if out.exists() else ""
    start = text.find("\n" + TRAINLIB_TITLE + "\n")
    if start < 0:
        print(f"bench_kernels: {out} has no '{TRAINLIB_TITLE}' section to rewrite (run the whole benchmark)",
              file=sys.stderr)
        return 2
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end
    kernels = {k for k, _ in TRAINLIB}
    jobs = [(k, d, v, 8, 0, args.engine) for k, v in TRAINLIB for d in ("fp32", "fp16")]
    jobs += [(k, d, _default_variant(k, d), 8, 0, args.engine) for k in kernels for d in ("fp32", "fp16")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(run_one, jobs))
    for r in results:
        print(f"{r['kernel']:12} {r['dtype']} {r['variant']:10} {r['cycles']:>10,} cycles "
              f"{'ok' if r['correct'] else 'WRONG'}", file=sys.stderr)
    section = _trainlib_section(results)
    section.insert(5, "")
    section.insert(5, (f"This section re-measured by `python tools/bench_kernels.py --section trainlib` on "
                       f"{datetime.date.today().isoformat()}: engine {args.engine}, {platform.machine()} "
                       f"({os.cpu_count()} CPUs), load average {load:.1f} when it started, "
                       f"{(time.time() - t0) / 60:.1f} min (cycles do not depend on the load)."))
    out.write_text(text[:start] + "\n".join(section) + "\n" + text[end:])
    print(f"rewrote the TrainLib section of {out}", file=sys.stderr)
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
