"""Kernels whose operands the cluster controller moves with the DMA (harness dma=True, and
`mcusim train --dma simulate`): same outputs as with the operands placed directly in the TCDM, both
engines identical, and DMA cycles that follow the DMA timing rule."""
import numpy as np

from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.harness import run_kernel
from mcusim.simulator.config import load_config
from mcusim.workloads import networks
from mcusim.workloads.train import simulate_step


def test_dma_mode_moves_operands_and_matches_direct_placement():
    kdef = registry.get("matmul")
    shape = {"m": 24, "n": 16, "k": 20}
    program = kdef.build(shape, "fp16", "simd_4x8", 8)
    inputs = kdef.inputs(shape, "fp16", np.random.default_rng(5))
    # ideal fetch: the bounds below are the DMA's timing alone (the controller's code misses would add
    # cold I-cache refills to its waits)
    config = load_config(overrides={"icache": {"model": "ideal"}})
    direct = run_kernel(program, inputs, 8, config, engine="c")
    moved = [run_kernel(program, inputs, 8, config, engine=e, dma=True) for e in ("c", "py")]
    for run in moved:
        assert np.array_equal(run.outputs["C"].view(np.uint16), direct.outputs["C"].view(np.uint16))
    assert (moved[0].cycles, moved[0].dma_in_cycles, moved[0].dma_out_cycles, moved[0].total_cycles) == \
        (moved[1].cycles, moved[1].dma_in_cycles, moved[1].dma_out_cycles, moved[1].total_cycles)
    # each transfer: set-up latency + bytes / bandwidth, one after the other (plus the wake-up)
    bytes_in = sum(t.nbytes for t in program.tensors if t.role == "input")
    n_in = sum(1 for t in program.tensors if t.role == "input")
    floor = n_in * config.dma.setup_latency + bytes_in // config.dma.bandwidth
    assert floor <= moved[0].dma_in_cycles <= floor + 20 * n_in
    assert moved[0].total_cycles > moved[0].cycles + moved[0].dma_in_cycles + moved[0].dma_out_cycles - 1


def test_training_step_with_simulated_dma():
    net = networks.single_conv2d(cin=3, h=8, w=8, cout=4, kernel=3)
    modelled = simulate_step(net, "fp32", dma="model")
    simulated = simulate_step(net, "fp32", dma="simulate")
    assert simulated.numerics.ok and modelled.numerics.ok
    assert (simulated.dma_mode, modelled.dma_mode) == ("simulated", "model")
    assert all(r.dma.mode == "simulated" and r.dma.exposed_cycles > 0 for r in simulated.records)
    assert all(r.dma.mode == "model" for r in modelled.records)
    # the same kernels run; the simulated step also pays forks, joins and the DMA programming
    assert [r.kernel for r in simulated.records] == [r.kernel for r in modelled.records]
    assert simulated.dma_cycles > 0 and sum(r.overhead_cycles for r in simulated.records) > 0
