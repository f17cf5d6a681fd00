"""mcusim: cycle-level simulator of a PULP-style 8+1-core RISC-V MCU cluster.

The installed packages live under this name: `mcusim.isa` (the instruction table), `mcusim.simulator`
(the cluster and its engines), `mcusim.kernels_asm` (assembler and kernel library) and
`mcusim.workloads` (networks and training steps). In the repository they are the top-level folders
`isa/`, `simulator/`, `kernels_asm/` and `workloads/`; this package sits above them and holds the
command line (`mcusim.cli`) and the Python API.
"""
from __future__ import annotations

import os as _os

# Running from a source tree (tests, tools, a checkout without `pip install`): the subpackages are
# the sibling folders of this one. An installed copy has them inside this folder instead.
_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "simulator")) and \
        _os.path.isfile(_os.path.join(_root, "simulator", "cluster.py")):
    __path__.append(_root)

__version__ = "0.2.0"

# The Python API (mcusim/api.py), imported on first use so that `import mcusim` stays instant.
_API = ("Config", "Report", "run", "kernel", "train", "sweep", "tune")


def __getattr__(name: str):
    if name in _API:
        from mcusim import api
        return getattr(api, name)
    raise AttributeError(f"module 'mcusim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
