"""Fit the energy model's two FPU coefficients to Vega's published efficiency (docs/ENERGY.md).

Vega (Rossi et al., arXiv 2110.09101) reports 79 GFLOPS/W on FP32 and 129 GFLOPS/W on FP16 (SIMD)
matrix work on its 8+1-core PULP cluster. With every other coefficient at its documented value, this
runs mcusim's 64x64x64 matmul on 8 cores in both dtypes and solves, per dtype, for the energy of one
FPU operation that makes the model give the published figure:

    python tools/calibrate_energy.py          # prints fpu_op_pj and fpu_vec_op_pj
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcusim.kernels_asm.kernels import registry  # noqa: E402
from mcusim.simulator import energy  # noqa: E402
from mcusim.simulator.config import ClusterConfig  # noqa: E402

TARGETS = {"fp32": (79.0, "fpu_op_pj"), "fp16": (129.0, "fpu_vec_op_pj")}


def fit(dtype: str, config: ClusterConfig) -> tuple[float, str, dict]:
    kdef = registry.get("matmul")
    shape = kdef.full_shape({"m": 64, "n": 64, "k": 64})
    outcome = registry.run(kdef, shape, dtype, None, 8, config, engine="c")
    result = outcome.run.result
    target, name = TARGETS[dtype]
    flops = 2 * outcome.macs
    base = energy.of_result(result, replace(config.energy, fpu_op_pj=0.0, fpu_vec_op_pj=0.0)).total_pj
    ops = sum(c.events["fpu_vec_ops"] if dtype == "fp16" else c.events["fpu_ops"] - c.events["fpu_vec_ops"]
              for c in result.cores)
    wanted = flops / (target * 1e9) * 1e12          # pJ the whole run may take
    return (wanted - base) / ops, name, {"variant": outcome.variant, "cycles": result.cycles,
                                        "fpu_ops": ops, "flops": flops, "base_pj": base}


def main() -> None:
    config = ClusterConfig()
    for dtype in TARGETS:
        value, name, info = fit(dtype, config)
        print(f"{dtype}: {name} = {value:.2f} pJ  ({info})")


if __name__ == "__main__":
    main()
