"""Design-space sweeps: one workload over a grid of cluster and workload parameters (`mcusim sweep`).

Spec (TOML, or the same structure as a dict):

    [workload]
    kind = "kernel"                  # "run" | "kernel" | "train" | "layer"
    name = "matmul"                  # program path (relative to the spec), kernel name, or network
    args = { m = 64, n = 64, k = 64, dtype = "fp16" }    # that command's options
    cores = 8                        # optional; default: the point's `workers`
    preset = "default"               # optional cluster preset; config = "FILE.toml" (optional)
    engine = "c"                     # optional: "c" (default) or "py"
    [grid]                           # every combination is a point (the last key varies fastest)
    "fpu.count" = [2, 4, 8]          # any cluster parameter by its docs/CONFIG.md name
    "args.dtype" = ["fp32", "fp16"]  # a workload option; "cores" too
    [cost]                           # optional: cost = base + sum(weight * parameter value)
    base = 0.0                       # (any cluster parameter or numeric grid key)
    "fpu.count" = 1.0
    "tcdm.banks" = 0.1
    [plot]                           # optional: what --plot draws (defaults: see sweep_plot)
    x = "fpu.count"; y = "tcdm.banks"; metric = "cycles"; kind = "lines" | "heatmap"

Options per kind (workloads.sweep_points.KINDS): kernel: dtype, variant, seed and the kernel's
shape parameters (`mcusim kernel --list`); train: dtype, seed, lr, dma, verify (default false: a
sweep measures cycles; true also checks the numerics), plan_file; run: controller, macs (for MAC/clk);
layer (one layer-phase of the network `name` as its library kernel, workloads.tune): layer, phase,
variant (default: the library's choice), dtype, seed.

Every key and every value is checked before anything runs (SpecError: one line naming the key and
the value). Rows: one per point, the grid columns named as in the spec, `cost` (with [cost]), then
sweep_points.METRIC_COLUMNS: cycles, mac_per_clk, instret, macs, wall_s (the point's own time),
error (empty when the point ran) and stall_<cause> (cycles summed over the cores).

Resuming: rows already in the output (--out, else --csv) whose grid values match a point are kept
and the point is not run again (failed ones too, unless retry_failed). The outputs are rewritten
atomically as rows arrive (at most every CHECKPOINT_S seconds), so an interrupted sweep resumes
where it stopped.
"""
from __future__ import annotations

import csv
import difflib
import functools
import io
import itertools
import math
import os
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcusim.workloads.sweep_points import METRIC_COLUMNS, STALL_COLUMNS, KINDS, PointError, Task, check_args

CHECKPOINT_S = 2.0
WORKLOAD_KEYS = ("kind", "name", "args", "cores", "preset", "config", "engine")
SPEC_TABLES = ("workload", "grid", "cost", "plot")
INT_COLUMNS = ("cycles", "instret", "macs", *STALL_COLUMNS)
FLOAT_COLUMNS = ("mac_per_clk", "wall_s", "cost")


class SpecError(ValueError):
    """A bad sweep spec or output file (one line naming the key, the value and why)."""


@functools.lru_cache(maxsize=1)
def cluster_keys() -> dict[str, tuple[str, str | None]]:
    """{docs/CONFIG.md name: (section or field, field or None)} of every cluster parameter."""
    from dataclasses import fields

    from mcusim.simulator.config import SECTIONS, ClusterConfig
    base = ClusterConfig()
    out: dict[str, tuple[str, str | None]] = {}
    for f in fields(ClusterConfig):
        if f.name in SECTIONS:
            for g in fields(getattr(base, f.name)):
                out[f"{f.name}.{g.name}"] = (f.name, g.name)
        else:
            out[f.name] = (f.name, None)
    return out


def _cluster_value(config, key: str) -> Any:
    section, name = cluster_keys()[key]
    value = getattr(config, section)
    return value if name is None else getattr(value, name)


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """{"fpu.count": 4, "workers": 8} -> {"fpu": {"count": 4}, "workers": 8} (config.apply's form)."""
    keys = cluster_keys()
    out: dict[str, Any] = {}
    for key, value in values.items():
        section, name = keys[key]
        if name is None:
            out[section] = value
        else:
            out.setdefault(section, {})[name] = value
    return out


@dataclass
class Spec:
    kind: str
    name: str
    args: dict[str, Any]
    cores: int | None
    preset: str = "default"
    config_file: str | None = None
    engine: str = "c"
    grid: dict[str, list[Any]] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)       # weights; "base" is the constant
    plot: dict[str, Any] = field(default_factory=dict)
    origin: str = "spec"
    base_dir: Path = field(default_factory=Path.cwd)      # relative file names in the spec start here

    @property
    def columns(self) -> list[str]:
        return [*self.grid, *(["cost"] if self.cost else []), *METRIC_COLUMNS]

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the grid values, in spec order (the last key varies fastest)."""
        keys = list(self.grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.grid[k] for k in keys))]

    def task(self, point: Mapping[str, Any]) -> Task:
        cluster = {k: v for k, v in point.items() if k in cluster_keys()}
        args = {**self.args, **{k[5:]: v for k, v in point.items() if k.startswith("args.")}}
        return Task(self.kind, self.name, args, point.get("cores", self.cores), nest(cluster), self.preset,
                    self.config_file, self.engine)


# ------------------------------------------------------------------------------------------------
# Reading and checking a spec
# ------------------------------------------------------------------------------------------------

def load_spec(source: str | Path | Mapping[str, Any], grid: Mapping[str, Sequence[Any]] | None = None) -> Spec:
    """A checked Spec from a TOML file or a dict (`grid` adds or replaces grid keys). SpecError names
    the first bad key or value; nothing is simulated."""
    if isinstance(source, Mapping):
        data, origin, base_dir = dict(source), "spec", Path.cwd()
    else:
        path = Path(source)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: invalid TOML ({exc})") from None
        origin, base_dir = str(path), path.parent
    if grid:
        data["grid"] = {**dict(data.get("grid") or {}), **{k: list(v) for k, v in grid.items()}}
    unknown = set(data) - set(SPEC_TABLES)
    if unknown:
        raise SpecError(f"{origin}: unknown table [{sorted(unknown)[0]}] (tables: {', '.join(SPEC_TABLES)})")
    spec = _workload(data.get("workload"), origin, base_dir)
    spec.grid = _grid(data.get("grid") or {}, spec)
    spec.cost = _cost(data.get("cost") or {}, spec)
    spec.plot = _plot(data.get("plot") or {}, spec)
    _check_points(spec)
    return spec


def _workload(wl: Any, origin: str, base_dir: Path) -> Spec:
    if not isinstance(wl, Mapping):
        raise SpecError(f"{origin}: missing [workload] table (kind, name, args, cores)")
    unknown = set(wl) - set(WORKLOAD_KEYS)
    if unknown:
        raise SpecError(f"{origin}: [workload] has no key {sorted(unknown)[0]!r} (keys: {', '.join(WORKLOAD_KEYS)})")
    kind = wl.get("kind")
    if kind not in KINDS:
        raise SpecError(f"{origin}: [workload] kind = {kind!r}: expected one of {', '.join(KINDS)}")
    name = wl.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{origin}: [workload] name: expected the {'program path' if kind == 'run' else kind} name")
    if kind == "run" or name.endswith(".json"):
        name = str((base_dir / name).resolve())
    try:
        KINDS[kind].check_name(name)
    except PointError as exc:
        raise SpecError(f"{origin}: [workload] name = {wl['name']!r}: {exc}") from None
    args = wl.get("args", {})
    if not isinstance(args, Mapping):
        raise SpecError(f"{origin}: [workload] args: expected a table of options")
    if "plan_file" in args and isinstance(args["plan_file"], str):
        args = {**args, "plan_file": str((base_dir / args["plan_file"]).resolve())}
    cores = wl.get("cores")
    if cores is not None and (isinstance(cores, bool) or not isinstance(cores, int) or cores < 1):
        raise SpecError(f"{origin}: [workload] cores = {cores!r}: expected a positive integer")
    from mcusim.simulator.config import PRESETS
    preset = wl.get("preset", "default")
    if preset not in PRESETS:
        raise SpecError(f"{origin}: [workload] preset = {preset!r}: expected one of {', '.join(PRESETS)}")
    config_file = wl.get("config")
    if config_file is not None:
        if not isinstance(config_file, str):
            raise SpecError(f"{origin}: [workload] config: expected a file name")
        config_file = str((base_dir / config_file).resolve())
    engine = wl.get("engine", "c")
    if engine not in ("c", "py"):
        raise SpecError(f"{origin}: [workload] engine = {engine!r}: expected c or py")
    try:
        args = check_args(kind, name, args)
    except PointError as exc:
        raise SpecError(f"{origin}: [workload] {exc}") from None
    return Spec(kind, name, dict(args), cores, preset, config_file, engine, origin=origin, base_dir=base_dir)


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _grid(grid: Any, spec: Spec) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping):
        raise SpecError(f"{spec.origin}: [grid] must be a table of key = [values]")
    cluster = cluster_keys()
    options = KINDS[spec.kind].options(spec.name)
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        where = f"{spec.origin}: [grid] {key!r}"
        if key.startswith("args."):
            if key[5:] not in options:
                raise SpecError(f"{where}: {spec.kind} {spec.name!r} has no option {key[5:]!r} (options: "
                                f"{', '.join(sorted(options))}){_suggest(key[5:], list(options))}")
        elif key != "cores" and key not in cluster:
            known = [*cluster, "cores", *(f"args.{o}" for o in options)]
            raise SpecError(f"{where}: not a cluster parameter (docs/CONFIG.md) nor a workload option "
                            f"(args.NAME, cores){_suggest(key, known)}")
        if not isinstance(values, list) or not values:
            raise SpecError(f"{where}: expected a non-empty list of values, got {values!r}")
        for v in values:
            if isinstance(v, (dict, list)) or v is None:
                raise SpecError(f"{where}: value {v!r} is not a number, string or boolean")
        if len({repr(v) for v in values}) != len(values):
            raise SpecError(f"{where}: a value is listed twice ({values!r})")
        if key == "args.plan_file":
            values = [str((spec.base_dir / v).resolve()) if isinstance(v, str) else v for v in values]
        out[key] = list(values)
    return out


def _cost(cost: Any, spec: Spec) -> dict[str, float]:
    if not isinstance(cost, Mapping):
        raise SpecError(f"{spec.origin}: [cost] must be a table of parameter = weight")
    cluster = cluster_keys()
    out: dict[str, float] = {}
    for key, w in cost.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise SpecError(f"{spec.origin}: [cost] {key!r} = {w!r}: expected a number")
        if key != "base" and key not in cluster and key not in spec.grid:
            raise SpecError(f"{spec.origin}: [cost] {key!r}: not a cluster parameter nor a grid key"
                            f"{_suggest(key, [*cluster, *spec.grid])}")
        if key in spec.grid and any(isinstance(v, (bool, str)) for v in spec.grid[key]):
            raise SpecError(f"{spec.origin}: [cost] {key!r}: its grid values are not numbers")
        out[key] = float(w)
    return out


def _plot(plot: Any, spec: Spec) -> dict[str, Any]:
    if not isinstance(plot, Mapping):
        raise SpecError(f"{spec.origin}: [plot] must be a table (x, y, metric, kind)")
    for key, value in plot.items():
        if key in ("x", "y") and value not in spec.grid:
            raise SpecError(f"{spec.origin}: [plot] {key} = {value!r}: not a grid key ({', '.join(spec.grid)})")
        elif key == "metric" and value not in ("cycles", "mac_per_clk", "instret", "wall_s", *STALL_COLUMNS):
            raise SpecError(f"{spec.origin}: [plot] metric = {value!r}: not a numeric result column")
        elif key == "kind" and value not in ("lines", "heatmap"):
            raise SpecError(f"{spec.origin}: [plot] kind = {value!r}: expected lines or heatmap")
        elif key not in ("x", "y", "metric", "kind"):
            raise SpecError(f"{spec.origin}: [plot] has no key {key!r} (x, y, metric, kind)")
    return dict(plot)


def _check_points(spec: Spec) -> None:
    """Build every point's configuration and options: the first bad value is named, nothing runs."""
    from mcusim.simulator.config import ConfigError
    from mcusim.workloads.sweep_points import point_config
    checked_args: set[str] = set()
    for point in spec.points():
        task = spec.task(point)
        where = ", ".join(f"{k} = {v!r}" for k, v in point.items())
        try:
            config = point_config(task)
        except ConfigError as exc:
            raise SpecError(f"{spec.origin}: [grid] {where}: {exc}") from None
        cores = config.workers if task.cores is None else task.cores
        if isinstance(cores, bool) or not isinstance(cores, int) or not 1 <= cores <= config.workers:
            raise SpecError(f"{spec.origin}: [grid] {where}: cores {cores!r} must be 1..{config.workers} "
                            f"(the configuration's workers)")
        key = repr(sorted(task.args.items()))
        if key not in checked_args:
            checked_args.add(key)
            try:
                check_args(spec.kind, spec.name, task.args)
            except PointError as exc:
                raise SpecError(f"{spec.origin}: [grid] {where}: {exc}") from None


def cost_of(spec: Spec, point: Mapping[str, Any]) -> float:
    """base + sum(weight * value), values from the point or its configuration."""
    from mcusim.workloads.sweep_points import point_config
    total = spec.cost.get("base", 0.0)
    config = None
    for key, w in spec.cost.items():
        if key == "base":
            continue
        if key in point:
            total += w * float(point[key])
        else:
            config = config or point_config(spec.task(point))
            total += w * float(_cluster_value(config, key))
    return round(total, 9)


# ------------------------------------------------------------------------------------------------
# Output: Parquet (pyarrow, optional) and CSV, rewritten atomically; read back to resume
# ------------------------------------------------------------------------------------------------

def _canon(value: Any) -> str:
    """A grid value as text, the same whether it comes from the spec, a CSV or a Parquet file."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def point_key(spec: Spec, row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(_canon(row.get(k)) for k in spec.grid)


def require_pyarrow(path: str) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SpecError(f"{path}: writing Parquet needs pyarrow: pip install 'mcusim[distributed]' "
                        f"(or write CSV with --csv)") from None


def _column_type(values: list[Any]):
    import pyarrow as pa
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def _atomic_write(path: str, write: Callable[[str], None]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise SpecError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_parquet(rows: list[dict[str, Any]], columns: list[str], path: str) -> None:
    require_pyarrow(path)
    import pyarrow as pa
    import pyarrow.parquet as pq
    arrays = {}
    for col in columns:
        values = [r.get(col) for r in rows]
        typ = pa.string() if col == "error" else _column_type(values)
        if typ == pa.string():
            values = [None if v is None else str(v) for v in values]
        elif typ == pa.float64():
            values = [None if v is None or v == "" else float(v) for v in values]
        arrays[col] = pa.array(values, type=typ)
    table = pa.table(arrays) if columns else pa.table({})
    _atomic_write(path, lambda p: pq.write_table(table, p))


def write_csv(rows: list[dict[str, Any]], columns: list[str], out: IO[str]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])


def write_csv_file(rows: list[dict[str, Any]], columns: list[str], path: str) -> None:
    def write(p: str) -> None:
        with open(p, "w", newline="") as f:
            write_csv(rows, columns, f)
    _atomic_write(path, write)


def _typed(spec: Spec, row: dict[str, Any]) -> dict[str, Any]:
    """A row read from CSV with its numbers and grid values typed again."""
    out = dict(row)
    for col in INT_COLUMNS:
        if out.get(col) not in (None, ""):
            out[col] = int(float(out[col]))
        elif col in out:
            out[col] = None
    for col in FLOAT_COLUMNS:
        out[col] = float(out[col]) if out.get(col) not in (None, "") else None
    for key, values in spec.grid.items():
        by_text = {_canon(v): v for v in values}
        out[key] = by_text.get(_canon(out.get(key)), out.get(key))
    out["error"] = out.get("error") or ""
    return out


def read_rows(spec: Spec, path: str) -> list[dict[str, Any]]:
    """The rows of an earlier run of the spec (Parquet or CSV); SpecError when they are another grid's."""
    if path.endswith(".parquet"):
        require_pyarrow(path)
        import pyarrow.parquet as pq
        try:
            table = pq.read_table(path)
        except Exception as exc:          # noqa: BLE001 - pyarrow raises several kinds for a bad file
            raise SpecError(f"{path}: cannot read as Parquet ({' '.join(str(exc).split())})") from None
        names, rows = table.column_names, table.to_pylist()
    else:
        try:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                rows = list(reader)
                names = reader.fieldnames or []
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: cannot read ({exc})") from None
    missing = [c for c in [*spec.grid, "cycles", "error"] if c not in names]
    if missing:
        raise SpecError(f"{path}: not an output of this sweep (no column {missing[0]!r}); "
                        f"name another output file or delete it")
    return [_typed(spec, dict(r)) for r in rows]


# ------------------------------------------------------------------------------------------------
# Running a sweep
# ------------------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """The rows of a sweep in grid order (points of earlier runs included), with its spec."""
    spec: Spec
    rows: list[dict[str, Any]]
    ran: int = 0                    # points simulated by this call
    skipped: int = 0                # points found in the output
    wall_s: float = 0.0             # this call's elapsed time

    @property
    def columns(self) -> list[str]:
        return self.spec.columns

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("error")]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_csv(self, path: str | None = None) -> str:
        buf = io.StringIO()
        write_csv(self.rows, self.columns, buf)
        if path is not None:
            write_csv_file(self.rows, self.columns, path)
        return buf.getvalue()

    def to_parquet(self, path: str) -> None:
        write_parquet(self.rows, self.columns, path)

    def pareto(self, cost: str = "cost", metric: str = "cycles") -> list[dict[str, Any]]:
        """The points no other point beats on both `cost` and `metric` (lower is better), by cost."""
        from mcusim.workloads.sweep_plot import pareto_front
        return pareto_front(self.rows, cost, metric)


def run_sweep(spec: Spec, jobs: int = 1, scheduler: Any = None, out: str | None = None,
              csv_path: str | None = None, retry_failed: bool = False, progress: IO[str] | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run the spec's points not already in `out` / `csv_path`; write both as rows arrive."""
    from mcusim.workloads.sweep_exec import Progress, execute
    from mcusim.workloads.sweep_points import evaluate
    if out is not None and out.endswith(".parquet"):
        require_pyarrow(out)
    points = spec.points()
    done: dict[tuple[str, ...], dict[str, Any]] = {}
    extra: list[dict[str, Any]] = []          # rows of the output that are not points of this grid
    source = next((p for p in (out, csv_path) if p is not None and os.path.exists(p)), None)
    keys = {point_key(spec, p): p for p in points}
    if source is not None:
        for row in read_rows(spec, source):
            k = point_key(spec, row)
            if k not in keys:
                extra.append(row)
            elif not (retry_failed and row.get("error")):
                done[k] = {**row, **keys[k]}
    todo = [p for p in points if point_key(spec, p) not in done]
    tasks = [spec.task(p) for p in todo]
    columns = spec.columns
    start = time.perf_counter()
    last_write = [start]

    def rows_now() -> list[dict[str, Any]]:
        return [done[k] for k in (point_key(spec, p) for p in points) if k in done] + extra

    def save() -> None:
        rows = rows_now()
        if out is not None:
            (write_parquet if out.endswith(".parquet") else write_csv_file)(rows, columns, out)
        if csv_path is not None:
            write_csv_file(rows, columns, csv_path)
        last_write[0] = time.perf_counter()

    bar = Progress(len(tasks), len(points) - len(todo), progress) if progress is not None else None

    def on_result(i: int, value: Any) -> None:
        if isinstance(value, BaseException):
            value = {**dict.fromkeys(METRIC_COLUMNS), "error": f"worker failed: {type(value).__name__}: "
                                                               f"{' '.join(str(value).split())}"}
        row = {**todo[i], **({"cost": cost_of(spec, todo[i])} if spec.cost else {}), **value}
        done[point_key(spec, todo[i])] = row
        if bar is not None:
            bar.update(bool(row["error"]))
        if on_row is not None:
            on_row(row)
        if time.perf_counter() - last_write[0] >= CHECKPOINT_S:
            save()

    try:
        execute(evaluate, tasks, jobs, scheduler, on_result)
    finally:
        if out is not None or csv_path is not None:
            save()
    return SweepResult(spec, rows_now(), len(tasks), len(points) - len(todo), time.perf_counter() - start)


def sweep(spec: str | Path | Mapping[str, Any], grid: Mapping[str, Sequence[Any]] | None = None, *,
          jobs: int = 1, scheduler: Any = None, out: str | None = None, csv: str | None = None,
          retry_failed: bool = False, progress: bool = False) -> SweepResult:
    """Check and run a sweep (see the module docstring); the Python API behind `mcusim sweep`."""
    s = load_spec(spec, grid)
    return run_sweep(s, jobs, scheduler, out, csv, retry_failed, sys.stderr if progress else None)
