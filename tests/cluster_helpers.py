"""Helpers for cluster tests: assemble a program and run it on the cluster model."""
from __future__ import annotations

from mcusim.kernels_asm import assemble, to_elf
from mcusim.simulator.cluster import Cluster, ClusterResult
from mcusim.simulator.config import load_config
from mcusim.simulator.loader import read_elf

# `icache=IDEAL_FETCH`: for a test of core or cluster timing in isolation (the default fetch model
# adds the code's cold I-cache refills, docs/TIMING.md)
IDEAL_FETCH = {"model": "ideal"}


def run_asm(source: str, cores: int = 1, controller: bool = False, preset: str = "default",
            **overrides) -> ClusterResult:
    """Assemble `source` and run it; `overrides` are config sections, e.g. fpu={"count": 2}."""
    image = read_elf(to_elf(assemble(source, "<test>")), "<test>")
    config = load_config(preset, overrides=overrides or None)
    result = Cluster(image, config, cores=cores, controller=controller).run()
    for core in result.cores:
        if core.end_cycle is not None:
            assert core.end_cycle == core.hart.instret + sum(core.stalls.values()), \
                f"core {core.id}: cycles != instret + stalls ({core.end_cycle}, {core.hart.instret}, {core.stalls})"
    return result


def loop_program(body: str, count: int, setup: str = "", data: str = "", data_section: str = ".tcdm") -> str:
    """`body` repeated `count` times in a hardware loop (no loop overhead), then exit(0).

    t5 holds the count; the last body instruction is the `9:` nop."""
    return f"""
    .text
    .globl _start
_start:
{setup}
    li t5, {count}
    lp.setup x0, t5, 9f
{body}
9:  nop
    li a7, 93
    li a0, 0
    ecall
    .section {data_section}
{data}
"""


def marginal_cycles(body: str, setup: str = "", data: str = "", data_section: str = ".tcdm",
                    **kwargs) -> float:
    """Cycles of one more iteration of `body` (plus its trailing nop), from 256 vs 128 repetitions.
    `data` goes in the TCDM unless `data_section` says otherwise (".data" is in L2)."""
    short = run_asm(loop_program(body, 128, setup, data, data_section), **kwargs).cycles
    long = run_asm(loop_program(body, 256, setup, data, data_section), **kwargs).cycles
    return (long - short) / 128
