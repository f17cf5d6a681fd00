"""Every registered kernel program gives identical results on the compiled engine and the Python
reference: cycles, instructions, every per-core counter and every output bit; on 4 cores with the
tensors in the TCDM, and on 8 cores with the tensors in L2, moved by the cluster controller's DMA
(controller mode, fork, DMA waits)."""
import numpy as np
import pytest

from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.harness import run_kernel
from mcusim.simulator.cengine import binding
from mcusim.simulator.config import load_config

registry.load_all()
SMALL = {"m": 9, "n": 7, "k": 6, "ci": 3, "co": 5, "c": 3, "h": 7, "w": 6, "r": 5, "kh": 3, "kw": 3,
         "s": 1, "p": 1, "k_pool": 2}


def _shape(kdef) -> dict[str, int]:
    shape = {}
    for p in kdef.params:
        value = SMALL.get(p.name, p.default)
        if kdef.name.startswith(("avgpool", "maxpool")) and p.name in ("k", "s"):
            value = 2
        if p.name == "n" and "matmul" not in kdef.name:
            value = 37
        shape[p.name] = max(value, p.min)
    return shape


CASES = [(k.name, dtype, variant) for k in registry.all_kernels() for dtype in k.dtypes
         for variant in k.variants[dtype]]


@pytest.mark.parametrize("cores, dma", [(4, False), (8, True)])
@pytest.mark.parametrize("name, dtype, variant", CASES)
def test_kernel_identical_on_both_engines(name, dtype, variant, cores, dma):
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    kdef = registry.get(name)
    shape = _shape(kdef)
    program = kdef.build(shape, dtype, variant, cores)
    inputs = kdef.inputs(shape, dtype, np.random.default_rng(3))
    runs = [run_kernel(program, inputs, cores, load_config(), engine=e, dma=dma) for e in ("py", "c")]
    py, c = runs
    assert c.result.engine == "c" and py.result.engine == "py"
    assert (py.cycles, py.instret, py.result.cycles) == (c.cycles, c.instret, c.result.cycles)
    assert (py.dma_in_cycles, py.dma_out_cycles) == (c.dma_in_cycles, c.dma_out_cycles)
    assert (c.dma_in_cycles > 0) == dma          # the DMA case did move the inputs
    assert py.per_core == c.per_core
    for core_py, core_c in zip(py.result.cores, c.result.cores):
        assert dict(core_py.stalls) == dict(core_c.stalls) and dict(core_py.events) == dict(core_c.events)
    for key in py.outputs:
        assert np.array_equal(py.outputs[key].view(np.uint8), c.outputs[key].view(np.uint8)), key
