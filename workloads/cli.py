"""`mcusim train` and `mcusim reproduce`: a simulated training step of a network and its reports.

    mcusim train resnet8|dscnn|FILE.json|layer [--type conv2d|pointwise|depthwise|linear
                 --cin C --cout C --h H --w W --k K --stride S --pad P] [--dtype fp32|fp16]
                 [--config FILE] [--preset NAME] [--cores N] [--freq-mhz F] [--json FILE|-]
                 [--csv FILE] [--engine c|py] [--plan] [--compare-dtypes] [--seed S] [--lr LR] [-q]
                 [--profile [--top N]] [--timeline FILE.json] [--plot FILE.png]
    mcusim reproduce [--engine c|py] [--config FILE] [--preset NAME] [--cores N] [--freq-mhz F]
                     [--json FILE|-] [-q]

`train` simulates every kernel of one SGD step (workloads.train), prints a table per layer and
phase with a progress bar (stderr), writes JSON/CSV when asked, and checks the updated weights
against the numpy reference. `--plan` prints the TCDM plan (workloads.planner) and exits;
`--compare-dtypes` runs FP32 and FP16 and shows the speedup per layer and phase. `--profile`
profiles every kernel run and prints, after the report, the kernels with their stall causes and the
hottest instructions and labels of the whole step (simulator/profile.py, workloads/report.py);
`--timeline` writes a Chrome/Perfetto trace of the step (workloads/timeline.py); `--plot` draws the
per-layer cycles by phase of FP32 beside FP16, or beside bfloat16 with --dtype bf16 (workloads/plot.py;
the other dtype is simulated too when only one was asked for). Exit status: 0,
1 when the numerics check fails, 2 for bad input (including a network the TCDM cannot hold).

`reproduce` runs the study's experiments (Conv2D training step FP16 vs FP32 on the tutorial layer
and ResNet8-sized layers; ResNet8 and DS-CNN FP16 steps) and prints them beside the published figures.

Hook-up in simulator/cli.py build_parser():  from workloads.cli import add_train_parser,
add_reproduce_parser; add_train_parser(sub); add_reproduce_parser(sub).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from mcusim.kernels_asm.dtype_names import FLOAT_DTYPES
from mcusim.simulator.argtypes import finite_positive, non_negative, positive
from mcusim.workloads import networks

LAYER_TYPES = ("conv2d", "pointwise", "depthwise", "linear")
# The study's tutorial Conv2D (PULP-TrainLib tutorial): 8 -> 16 channels, 3x3, 8x8 input, no padding.
TUTORIAL_CONV = {"cin": 8, "cout": 16, "h": 8, "w": 8, "kernel": 3, "stride": 1, "padding": 0}
# ResNet8's Conv2D shapes (stride 1, 'same'), for "up to" in the Conv2D speedup.
RESNET8_CONVS = ({"cin": 16, "cout": 16, "h": 32, "w": 32, "kernel": 3, "stride": 1, "padding": 1},
                 {"cin": 32, "cout": 32, "h": 16, "w": 16, "kernel": 3, "stride": 1, "padding": 1},
                 {"cin": 64, "cout": 64, "h": 8, "w": 8, "kernel": 3, "stride": 1, "padding": 1})


# Kernel sets (`mcusim train --kernels`, the `reproduce` columns): kernel name -> variant forced in every
# layer-phase. "library" is mcusim's own choice per shape; "trainlib" builds the Conv2D, PointWise,
# DepthWise and Linear phases the way PULP-TrainLib's paper-era C kernels do (kernels_asm/kernels/
# conv_trainlib.py, dw_trainlib.py, layers_linear.py: im2row element loops, 2x4 vfmac.h / fmadd.s matmul
# blocks, scalar depthwise and naive-matmul loops, a barrier per primitive); the kernels without a
# TrainLib-style variant (TRAINLIB_MISSING) stay the library's.
TRAINLIB_KINDS = ("conv2d", "pointwise", "depthwise", "linear")
TRAINLIB_MISSING = ("ReLU, Add, the pools (a one-pixel AvgPool is lowered to the Linear kernels, so it takes "
                    "theirs), the losses and the SGD update")
KERNEL_SETS: dict[str, dict[str, str]] = {
    "library": {},
    "trainlib": {f"{kind}_{ph}": "trainlib" for kind in TRAINLIB_KINDS for ph in ("fw", "wg", "ig")},
}

# The networks of `reproduce` (key of PUBLISHED -> description function; tests substitute tiny ones).
REPRO_NETWORKS: dict[str, Any] = {"resnet8": networks.resnet8, "dscnn": networks.ds_cnn}


def _common(p: argparse.ArgumentParser) -> None:
    from mcusim.simulator.config import PRESETS
    from mcusim.workloads.study import DEFAULT_FREQ_MHZ
    p.add_argument("--config", metavar="FILE", help="TOML file overriding cluster parameters (docs/CONFIG.md)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="cluster preset (default: the study's)")
    p.add_argument("--cores", type=positive, default=8, help="worker cores (default 8)")
    p.add_argument("--freq-mhz", type=finite_positive, default=DEFAULT_FREQ_MHZ,
                   help=f"clock for times (default {DEFAULT_FREQ_MHZ:g}: the clock the study's ResNet8 "
                        "figures imply, 37.06 M MACs / 3.11 MAC/clk in 17.1 ms)")
    p.add_argument("--engine", choices=("c", "py"), default="c",
                   help="c: the compiled engine (default; falls back to py when unavailable); py: the reference")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON ('-' for stdout)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no tables or progress bar on stderr (errors are still printed)")
    p.add_argument("--progress", action="store_true",
                   help="report the layer-phase reached and the time left on stderr also when it is not a terminal")
    p.add_argument("--extensions", metavar="PROFILE",
                   help="the cores' ISA profile (core.extensions, over --config): all, pulp-dotp, pulp (without the "
                        "Xfaux dot products such as vfdotpex.s.h) or a comma-separated list of extensions; kernels "
                        "are chosen among the variants it allows")
    p.add_argument("--kernels", choices=sorted(KERNEL_SETS), default="library",
                   help="library (default): mcusim's kernels, chosen per shape; trainlib: Conv2D, PointWise, "
                        "DepthWise and Linear phases built as PULP-TrainLib's C kernels are (" + TRAINLIB_MISSING +
                        " keep the library's)")


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `mcusim train` on the sub-parsers of simulator.cli.build_parser."""
    p = subparsers.add_parser("train", help="simulate one training step of a network (or one layer)",
                              description="Simulate one SGD training step of a network on the cluster as one "
                                          "program: the controller moves the tiles with the DMA, the workers run "
                                          "the library kernels.")
    p.add_argument("network", help="resnet8, dscnn, a description FILE.json (docs/NETWORKS.md), 'layer' (with "
                                   "--type and the shape options), or a layer type (conv2d, pointwise, "
                                   "depthwise, linear: the same as layer --type TYPE)")
    p.add_argument("--dtype", choices=FLOAT_DTYPES, default="fp32",
                   help="data type: fp32, fp16 (IEEE half) or bf16 (bfloat16, smallFloat .ah) (default fp32)")
    g = p.add_argument_group("single layer (network 'layer')")
    g.add_argument("--type", choices=LAYER_TYPES, default="conv2d", help="layer type (default conv2d)")
    g.add_argument("--cin", type=positive, default=8, help="input channels (linear: input features); default 8")
    g.add_argument("--cout", type=positive, default=16, help="output channels / features; default 16")
    g.add_argument("--h", type=positive, default=8, help="input rows (default 8)")
    g.add_argument("--w", type=positive, default=8, help="input columns (default 8)")
    g.add_argument("--k", type=positive, default=3, help="kernel size (default 3)")
    g.add_argument("--stride", type=positive, default=1, help="stride (default 1)")
    g.add_argument("--pad", type=non_negative, default=0, help="padding on every side (default 0)")
    _common(p)
    p.add_argument("--csv", metavar="FILE", help="write the per-step rows as CSV ('-' for stdout)")
    p.add_argument("--plan", action="store_true", help="print the TCDM plan (placement, tiling, DMA) and exit")
    p.add_argument("--dma", choices=("simulate", "model"), default="simulate",
                   help="simulate (default): the whole step is one program on the configured cluster: the "
                        "controller moves every tile L2 <-> TCDM with the DMA while the workers compute "
                        "(workloads/step_program.py); model: each kernel simulated on its own, the DMA priced "
                        "by the planner's formula, tiled steps on an enlarged TCDM (an estimate)")
    p.add_argument("--emit-elf", metavar="FILE",
                   help="write the step program as an ELF executable (run it with: mcusim run FILE --controller)")
    p.add_argument("--emit-asm", metavar="DIR",
                   help="write the step program's source to DIR (step.s and the L2 tensors it includes, l2.bin)")
    p.add_argument("--plan-file", metavar="PLAN.json",
                   help="kernel variant per layer-phase from `mcusim tune` (default: the library's choice)")
    p.add_argument("--compare-dtypes", action="store_true",
                   help="run FP32 and FP16 and show them side by side with the speedup per layer and phase")
    p.add_argument("--compare-profile", metavar="PROFILE", nargs="?", const="all",
                   help="run the step also with core.extensions = PROFILE (default: all) and show both per layer "
                        "and phase: kernel and matmul variants, cycles, MAC/clk, energy (--json: "
                        "profile_comparison; --csv: the comparison rows)")
    p.add_argument("--seed", type=non_negative, default=0, help="seed of the weights, input and target (default 0)")
    p.add_argument("--lr", type=finite_positive, default=0.01, help="SGD learning rate (default 0.01)")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with the numpy reference")
    g = p.add_argument_group("profiling and plots")
    g.add_argument("--profile", action="store_true",
                   help="profile every kernel run; print the kernels' stall causes and the hottest instructions "
                        "and labels of the step after the report (and add them to --json)")
    g.add_argument("--top", type=positive, default=20, help="rows of the hottest instructions / labels (default 20)")
    g.add_argument("--timeline", metavar="FILE.json",
                   help="write a Chrome/Perfetto trace: a track per core (kernels, barrier waits) and one for the "
                        "DMA (simulated: the waits and transfers as they happened; model: the formula's) "
                        "(open in ui.perfetto.dev)")
    g.add_argument("--plot", metavar="FILE.png",
                   help="plot cycles per layer and phase, FP32 beside FP16 (beside BF16 with --dtype bf16; "
                        "runs the other dtype too)")
    p.set_defaults(func=cmd_train)
    return p


def add_reproduce_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `mcusim reproduce` on the sub-parsers of simulator.cli.build_parser."""
    p = subparsers.add_parser("reproduce", help="run the study's experiments and compare with the published figures",
                              description="Conv2D FP16 vs FP32 training-step speedup, ResNet8 and DS-CNN FP16 "
                                          "training steps, beside the published figures, in three columns: the "
                                          "study, mcusim with TrainLib-style kernels (--kernels trainlib) and "
                                          "mcusim with its own library; under the table, how much of each gap "
                                          "comes from the model and how much from the kernels, computed from "
                                          "the rows.")
    _common(p)
    p.set_defaults(func=cmd_reproduce)
    return p


# ------------------------------------------------------------------------------------------------

def _user_error(msg: str) -> Exception:
    from mcusim.simulator.cli import UserError
    return UserError(msg)


def _config(args: argparse.Namespace):
    from mcusim.simulator.config import ConfigError, load_config
    try:
        config = load_config(args.preset, args.config)
    except ConfigError as exc:
        raise _user_error(str(exc)) from None
    if args.cores > config.workers:
        raise _user_error(f"--cores {args.cores}: the configuration has {config.workers} workers")
    if getattr(args, "extensions", None):
        config = with_extensions(config, args.extensions, "--extensions")
    return config


def with_extensions(config, profile: str, option: str):
    """`config` with core.extensions = profile (checked: a user error names the option)."""
    import dataclasses

    from mcusim.isa.profiles import resolve
    try:
        resolve(profile)
    except ValueError as exc:
        raise _user_error(f"{option} {profile}: {exc}") from None
    return dataclasses.replace(config, core=dataclasses.replace(config.core, extensions=profile))


def _description(args: argparse.Namespace) -> dict:
    name = args.network
    if name in LAYER_TYPES:              # `train conv2d` = `train layer --type conv2d`
        args.type, name = name, "layer"
    if name == "layer":
        if args.type == "conv2d":
            return networks.single_conv2d(args.cin, args.h, args.w, args.cout, args.k, args.stride, args.pad)
        if args.type == "pointwise":
            return networks.single_pointwise(args.cin, args.h, args.w, args.cout)
        if args.type == "depthwise":
            return networks.single_depthwise(args.cin, args.h, args.w, args.k, args.stride, args.pad)
        return networks.single_linear(args.cin, args.cout)
    if name.endswith(".json"):
        from pathlib import Path
        if Path(name).is_dir():
            raise _user_error(f"{name}: is a directory, not a network description")
        try:
            desc = networks.load_json(name)
        except OSError as exc:
            raise _user_error(f"{name}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise _user_error(f"{name}: not UTF-8 text") from None
        except ValueError as exc:
            raise _user_error(f"{name}: not valid JSON ({exc})") from None
        if not isinstance(desc, dict):
            raise _user_error(f"{name}: the top level must be an object with input, layers and loss "
                              f"(docs/NETWORKS.md), not a {type(desc).__name__}")
        return desc
    try:
        return networks.get(name)
    except (KeyError, TypeError) as exc:
        raise _user_error(str(exc.args[0] if exc.args else exc)) from None


def _build(desc: dict):
    from mcusim.workloads import model
    try:
        return model.build(desc)
    except model.ModelError as exc:
        raise _user_error(str(exc)) from None


def _engine(requested: str, quiet: bool) -> str:
    from mcusim.workloads.train import resolve_engine
    eng = resolve_engine(requested)
    if eng != requested and not quiet:
        print(f"mcusim: warning: engine {requested} is not available to the kernel harness; using {eng}",
              file=sys.stderr)
    return eng


def run_step(net, dtype: str, config, args: argparse.Namespace, engine: str, label: str = ""):
    """simulate_step with a rich progress bar on stderr (none when quiet); PlanError -> user error."""
    from mcusim.kernels_asm.kernels.errors import HarnessError
    from mcusim.workloads import planner, report, train
    kw: dict[str, Any] = {"config": config, "engine": engine, "cores": args.cores,
                          "seed": getattr(args, "seed", 0), "lr": getattr(args, "lr", 0.01),
                          "verify": not getattr(args, "no_verify", False),
                          "profile": bool(getattr(args, "profile", False) or getattr(args, "timeline", None)),
                          "dma": getattr(args, "dma", "model"),
                          "variants": KERNEL_SETS[getattr(args, "kernels", "library")]}
    if getattr(args, "plan_file", None):
        from mcusim.workloads import tune
        try:
            kw["variant_plan"] = tune.load_plan(args.plan_file, net, dtype)
        except tune.TuneError as exc:
            raise _user_error(str(exc)) from None
    try:
        forced = bool(getattr(args, "progress", False))
        if not forced and args.quiet:
            return train.simulate_step(net, dtype, **kw)
        con = report.stderr_console()
        if not forced and not con.is_terminal:       # a bar only on a terminal
            return train.simulate_step(net, dtype, **kw)
        if not con.is_terminal:                 # --progress into a log: a plain line per layer-phase
            return train.simulate_step(net, dtype, progress=_plain_progress(f"{label or net.name} {dtype}"), **kw)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("left"), TimeRemainingColumn(), console=con, transient=True) as bar:
            task = bar.add_task(f"{label or net.name} {dtype}", total=len(net.schedule()) - 1)

            def progress(done: int, total: int, rec) -> None:
                what = f"{rec.layer} {rec.phase}" if rec is not None else f"layer-phase {done}/{total}"
                bar.update(task, completed=done, total=total,
                           description=f"{label or net.name} {dtype}: {what}")
            return train.simulate_step(net, dtype, progress=progress, **kw)
    except (planner.PlanError, train.TrainError, HarnessError) as exc:
        raise _user_error(str(exc)) from None


def _plain_progress(what: str):
    """A progress callback writing `what: layer phase (i/n), time left` lines to stderr."""
    import time
    start = time.monotonic()

    def progress(done: int, total: int, rec) -> None:
        elapsed = time.monotonic() - start
        left = elapsed / done * (total - done) if done else 0.0
        print(f"mcusim: {what}: {rec.layer} {rec.phase} ({done}/{total}), {elapsed:.0f} s elapsed, "
              f"about {left:.0f} s left", file=sys.stderr, flush=True)
    return progress


def _check_train_outputs(args: argparse.Namespace) -> None:
    """Every output path is checked before the (long) run; a bad one is reported at once."""
    from mcusim.simulator.outputs import OutputError, check_outputs, check_plot_path
    outputs = [("--json", args.json), ("--csv", getattr(args, "csv", None)),
               ("--timeline", getattr(args, "timeline", None)), ("--plot", getattr(args, "plot", None))]
    try:
        for opt, path in outputs[2:]:
            if path == "-":
                raise OutputError(f"{opt}: give a file name ('-' is for --json and --csv)")
        check_outputs(outputs)
        if getattr(args, "plot", None):
            check_plot_path(args.plot)
    except OutputError as exc:
        raise _user_error(str(exc)) from None


def _print_step_plan(net, dtype: str, config, args: argparse.Namespace) -> None:
    """--plan with the simulated DMA: the step program's tiling (what the program runs)."""
    from mcusim.workloads import planner, reference, step_program
    try:
        sp = step_program.compile_step(net, dtype, config, args.cores, reference.init_params(net, 0, dtype),
                                       reference.random_input(net, 0, dtype), reference.random_target(net, 0, dtype))
    except (planner.PlanError, step_program.LowerError) as exc:
        raise _user_error(str(exc)) from None
    print(step_program.format_plan(sp))


def _emit(args: argparse.Namespace, res) -> None:
    from pathlib import Path
    sp = res.program
    if sp is None:
        raise _user_error("--emit-elf/--emit-asm need the simulated step program (--dma simulate)")
    if args.emit_elf:
        from mcusim.simulator.outputs import write_atomic
        write_atomic(args.emit_elf, sp.elf(), "--emit-elf")
    if args.emit_asm:
        def write() -> None:
            d = Path(args.emit_asm)
            d.mkdir(parents=True, exist_ok=True)
            for name, content in sp.sources().items():
                (d / name).write_bytes(content)
        try:
            write()
        except OSError as exc:
            raise _user_error(f"--emit-asm {args.emit_asm}: cannot write ({exc.strerror})") from None


def cmd_train(args: argparse.Namespace) -> int:
    from mcusim.workloads import planner, report
    _check_train_outputs(args)
    config = _config(args)
    net = _build(_description(args))
    if args.plan:
        dtypes = ("fp32", "fp16") if args.compare_dtypes else (args.dtype,)
        for dt in dtypes:
            if args.dma == "simulate":
                _print_step_plan(net, dt, config, args)
                continue
            try:
                plan = planner.plan_network(net, dt, config.tcdm.size_kib * 1024, (config.workers + 1) * 1024)
            except planner.PlanError as exc:
                raise _user_error(str(exc)) from None
            print(planner.format_plan(plan))
        return 0
    if args.compare_dtypes and args.compare_profile:
        raise _user_error("--compare-dtypes and --compare-profile: give one of them")
    other_config = with_extensions(config, args.compare_profile, "--compare-profile") if args.compare_profile \
        else None
    engine = _engine(args.engine, args.quiet)
    con = None if args.quiet else report.stderr_console()      # (rich is not imported for -q)
    checked = []                            # steps whose numerics set the exit status besides `results`
    if args.compare_dtypes:
        a = run_step(net, "fp32", config, args, engine)
        b = run_step(net, "fp16", config, args, engine)
        if not args.quiet:
            con.print(report.compare_table(a, b, args.freq_mhz))
            for res in (a, b):
                for line in report.summary_lines(res, args.freq_mhz)[:1] + \
                        ([res.numerics.describe()] if res.numerics else []):
                    con.print(line, highlight=False, markup=False)
            if args.profile:
                for res in (a, b):
                    report.print_profile(res, con, args.top)
        if args.json:
            doc = report.compare_json(a, b, args.freq_mhz)
            if args.profile:
                for res in (a, b):
                    doc["steps"][res.dtype]["profile"] = report.profile_json(res, args.top)
            report.write_text(args.json, report.dumps(doc))
        if args.csv:
            _csv(args.csv, lambda f: report.compare_csv(a, b, f))
        results = [a, b]
    else:
        res = run_step(net, args.dtype, config, args, engine)
        other = None
        if other_config is not None:
            other = run_step(net, args.dtype, other_config, args, engine, f"core.extensions={args.compare_profile}")
        if not args.quiet:
            report.print_report(res, args.freq_mhz, con)
            if args.profile:
                report.print_profile(res, con, args.top)
            if other is not None:
                con.print(report.profile_compare_table(res, other, args.freq_mhz))
                for line in report.summary_lines(other, args.freq_mhz)[:1] + [report.profile_line(other)] + \
                        ([other.numerics.describe()] if other.numerics else []):
                    con.print(line, highlight=False, markup=False)
        if args.json:
            doc = report.to_json(res, args.freq_mhz)
            if args.profile:
                doc["profile"] = report.profile_json(res, args.top)
            if other is not None:
                doc["profile_comparison"] = report.profile_compare_json(res, other, args.freq_mhz)
            report.write_text(args.json, report.dumps(doc))
        if args.csv:
            if other is not None:
                _csv(args.csv, lambda f: report.profile_compare_csv(res, other, f))
            else:
                _csv(args.csv, lambda f: report.write_csv(res, f))
        if args.emit_elf or args.emit_asm:
            _emit(args, res)
        results = [res]
        if other is not None:
            checked.append(other)
        if args.plot:                       # the plot sets both dtypes side by side
            other = run_step(net, "fp16" if res.dtype == "fp32" else "fp32", config, args, engine)
            results.append(other)
            if not args.quiet:
                con.print(f"for the plot: {report.summary_lines(other, args.freq_mhz)[0]}", highlight=False,
                          markup=False)
                if other.numerics is not None:
                    con.print(other.numerics.describe(), highlight=False, markup=False)
    if args.timeline:
        from mcusim.workloads import timeline
        _write_file(args.timeline, lambda tmp: timeline.write_timeline(results, tmp, args.freq_mhz))
        if not args.quiet:
            con.print(f"timeline: {args.timeline} (Chrome/Perfetto trace events; open in ui.perfetto.dev)",
                      highlight=False, markup=False)
    if args.plot:
        from mcusim.workloads import plot
        by_dtype = {r.dtype: r for r in results}
        half = next(d for d in by_dtype if d != "fp32")     # fp16, or bf16 when that was asked
        _write_file(args.plot, lambda tmp: plot.plot_dtypes(by_dtype["fp32"], by_dtype[half], tmp,
                                                            args.freq_mhz))
        if not args.quiet:
            con.print(f"plot: {args.plot}", highlight=False, markup=False)
    return 0 if all(r.numerics is None or r.numerics.ok for r in results + checked) else 1


def _write_file(path: str, write) -> None:
    """`write(tmp_path)` into a temporary file renamed over `path` (simulator.outputs.atomic_path)."""
    from mcusim.simulator.outputs import atomic_path
    with atomic_path(path) as tmp:
        write(tmp)


def _csv(path: str, write) -> None:
    import io

    from mcusim.simulator.outputs import write_atomic
    buf = io.StringIO(newline="")
    write(buf)
    write_atomic(path, buf.getvalue())


# ------------------------------------------------------------------------------------------------
# reproduce
# ------------------------------------------------------------------------------------------------

def conv_layer_cycles(res) -> int:
    """Cycles of the Conv2D layer's own kernels in a single-layer step (forward, weight gradient,
    input gradient; the loss, the update and the DMA left out)."""
    return sum(r.compute_cycles for r in res.records if r.kind == "Conv2D" and r.phase != "update")


def step_shares(res) -> dict[str, float]:
    """Fractions of a step's cycles: `other_kernels` in kernels that are not TrainLib-style
    (TRAINLIB_MISSING: the library's in both columns), `dma` the exposed DMA."""
    other = sum(k.cycles for r in res.records for k in r.kernels if k.variant != "trainlib")
    return {"other_kernels": other / res.cycles, "dma": (res.cycles - res.compute_cycles) / res.cycles}


def reproduce(config, args: argparse.Namespace, engine: str) -> dict[str, Any]:
    """Run the experiments; returns {rows: [...], steps: {...}} (rows as report.reproduce_table takes)."""
    from mcusim.workloads import model, report
    rows: list[dict[str, Any]] = []
    steps: dict[str, Any] = {}
    best = 0.0
    for i, shape in enumerate((TUTORIAL_CONV, *RESNET8_CONVS)):
        net = model.build(networks.single_conv2d(**shape))
        label = "tutorial Conv2D" if i == 0 else "ResNet8 Conv2D"
        r32 = run_step(net, "fp32", config, args, engine, label)
        r16 = run_step(net, "fp16", config, args, engine, label)
        c32, c16 = conv_layer_cycles(r32), conv_layer_cycles(r16)
        speed = c32 / c16
        best = max(best, speed)
        name = (f"{label} {shape['cin']}->{shape['cout']} {shape['kernel']}x{shape['kernel']} "
                f"{shape['h']}x{shape['w']} pad {shape['padding']}")
        rows.append({"experiment": name, "metric": "FW+WG+IG cycles fp32 / fp16", "measured": speed,
                     "published": None, "target": None, "fmt": "{:.2f}x",
                     "cycles_fp32": c32, "cycles_fp16": c16,
                     "step_speedup": r32.cycles / r16.cycles})
        rows.append({"experiment": name, "metric": "whole step fp32 / fp16 (with loss, SGD, DMA)",
                     "measured": r32.cycles / r16.cycles, "published": None, "target": None, "fmt": "{:.2f}x"})
        steps[f"{net.name}_fp32"], steps[f"{net.name}_fp16"] = report.to_json(r32, args.freq_mhz), \
            report.to_json(r16, args.freq_mhz)
    rows.append({"experiment": "Conv2D training step", "metric": "FP16 speedup over FP32, best of the shapes",
                 "measured": best, "published": report.PUBLISHED["conv2d_speedup"],
                 "target": report.TARGETS["conv2d_speedup"], "fmt": "{:.2f}x"})
    for name, describe in REPRO_NETWORKS.items():
        net = model.build(describe())
        res = run_step(net, "fp16", config, args, engine)
        steps[f"{name}_fp16"] = report.to_json(res, args.freq_mhz)
        tl = run_step(net, "fp16", config, argparse.Namespace(**{**vars(args), "kernels": "trainlib"}), engine,
                      "TrainLib-style")
        steps[f"{name}_fp16_trainlib"] = report.to_json(tl, args.freq_mhz)
        title = {"resnet8": "ResNet8", "dscnn": "DS-CNN"}.get(name, net.name)
        label = f"{title} FP16 step ({res.macs / 1e6:.2f} M MACs)"
        rows.append({"experiment": label, "metric": "MAC/clk", "measured": res.mac_per_clk,
                     "trainlib": tl.mac_per_clk,
                     "published": report.PUBLISHED[f"{name}_mac_per_clk"],
                     "target": report.TARGETS[f"{name}_mac_per_clk"], "network": title, "macs": res.macs,
                     "trainlib_shares": step_shares(tl), "library_shares": step_shares(res)})
        rows.append({"experiment": label, "metric": f"ms at {args.freq_mhz:g} MHz",
                     "measured": report.time_ms(res.cycles, args.freq_mhz),
                     "trainlib": report.time_ms(tl.cycles, args.freq_mhz),
                     "published": report.PUBLISHED[f"{name}_ms"], "target": None})
        rows.append({"experiment": label, "metric": "cycles", "measured": res.cycles, "trainlib": tl.cycles,
                     "published": None, "target": None, "fmt": "{:,.0f}"})
        rows.append({"experiment": label, "metric": "numerics vs numpy reference",
                     "measured": 1.0 if res.numerics is None or res.numerics.ok else 0.0,
                     "published": None, "target": None, "fmt": "{:.0f} (1 = ok)"})
    return {"rows": rows, "steps": steps,
            "attribution": report.reproduce_attribution(rows, args.freq_mhz, config.icache.model, TRAINLIB_MISSING)}


def cmd_reproduce(args: argparse.Namespace) -> int:
    from mcusim.simulator import ifetch
    from mcusim.workloads import report
    _check_train_outputs(args)
    config = _config(args)
    engine = _engine(args.engine, args.quiet)
    out = reproduce(config, args, engine)
    if not args.quiet:
        con = report.stderr_console()
        con.print(report.reproduce_table(out["rows"], args.freq_mhz))
        con.print("\n".join(out["attribution"]), highlight=False, markup=False)
        con.print(f"Frequency: {args.freq_mhz:g} MHz. The study does not state its clock; its ResNet8 figures "
                  f"imply ~697 MHz with this project's MAC count (37.06 M MACs / 3.11 MAC/clk = 11.9 M cycles "
                  f"in 17.1 ms), so times are compared at 700 MHz by default. Its DS-CNN figures would imply "
                  f"~1.48 GHz with our 7.65 M MACs: the study's DS-CNN MAC count differs, so compare MAC/clk "
                  f"there. Targets are this project's goals, not published figures.", highlight=False, markup=False)
        con.print(ifetch.describe(config.icache), highlight=False, markup=False)
    if args.json:
        doc = {"schema": "mcusim-reproduce/1", "freq_mhz": args.freq_mhz, "fetch": ifetch.describe(config.icache),
               "published": report.PUBLISHED,
               "targets": report.TARGETS, "rows": [{k: v for k, v in r.items() if k != "fmt"} for r in out["rows"]],
               "attribution": out["attribution"], "steps": out["steps"]}
        report.write_text(args.json, report.dumps(doc))
    ok = all(r["measured"] == 1.0 for r in out["rows"] if r["metric"] == "numerics vs numpy reference")
    return 0 if ok else 1
