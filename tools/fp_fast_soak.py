"""Soak test of the compiled engine's inline FP fast paths (fp_fast.h, dotpex_fast.h) against the
exact paths of ieee754.c: N random operand sets per operation and distribution (random rounding
modes), run in C (fp_fast_check.c), counting every difference in result or flags. Two distributions:
"biased" (exponents near each other and near the limits, special values, significands with ties)
and "training" (normally distributed values at random scales, a third of the halves zero,
accumulators above or below the products). Outside CI (minutes):

    python tools/fp_fast_soak.py [--n 10000000] [--seed 1] [--ops fadd.h,fmadd.h] [--dist training] [--rm 0]

(--rm: one rounding mode, 0-4, for every set instead of a random one per set; 0, round to nearest
even, is the mode of the specialised binary16 paths.)

ieee754.c is itself compared with the Python reference (tests/test_cengine_ieee754.py)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from mcusim.simulator.cengine.binding import load
    from tests.test_cengine_fp_fast import NAMES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="operand sets per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ops", default=",".join(NAMES))
    parser.add_argument("--dist", default="biased,training", help="biased, training or both (comma-separated)")
    parser.add_argument("--rm", default="random", help="rounding mode of every set, 0-4, or random (per set)")
    args = parser.parse_args()
    if args.rm not in ("random", "0", "1", "2", "3", "4"):
        print(f"--rm: expected 0-4 or random, not {args.rm!r}", file=sys.stderr)
        return 2
    rm = -1 if args.rm == "random" else int(args.rm)
    mod = load()
    if mod is None:
        print("the compiled engine is not built", file=sys.stderr)
        return 2
    first = mod.ffi.new("uint32_t[5]")
    failed = 0
    soaks = {"biased": mod.lib.mcu_fp_fast_soak, "training": mod.lib.mcu_fp_fast_soak_training}
    for dist in args.dist.split(","):
        if dist not in soaks:
            print(f"--dist: unknown distribution {dist!r} (biased, training)", file=sys.stderr)
            return 2
    for name in args.ops.split(","):
        if name not in NAMES:
            print(f"--ops: unknown operation {name!r} (one of {', '.join(NAMES)})", file=sys.stderr)
            return 2
    for dist in args.dist.split(","):
        for name in args.ops.split(","):
            op = NAMES.index(name)
            start = time.perf_counter()
            bad = soaks[dist](op, args.n, args.seed, rm, first)
            note = (f"  first: a={first[0]:#x} b={first[1]:#x} c={first[2]:#x} rm={first[3]} fast={first[4]:#x}"
                    if bad else "")
            print(f"{dist:<9} {name:<14} rm {args.rm:<6} {args.n:>12,} sets  {bad:>6} differences  "
                  f"{time.perf_counter() - start:6.1f} s{note}", flush=True)
            failed += bad > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
