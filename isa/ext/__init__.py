"""Instruction tables, one module per extension. Importing this package registers them all.

The entries' derived fields (isa.spec.DERIVED) are kept in the disk cache (simulator.diskcache, a
module without dependencies) with the sources of this package they were built from: a later process
with the same sources (compared byte for byte) skips deriving and checking them, which is almost
half of building the table (start-up time)."""
import importlib
import os
import pickle
import zlib

from mcusim.isa import spec
from mcusim.simulator import diskcache

# Order matters only for the documentation (docs/ISA.md lists extensions in this order).
EXTENSION_MODULES = ("rv32i", "rv32m", "zicsr", "rv32f", "zfh", "rv32c", "xpulp_hwloop", "xpulp_mem",
                     "xpulp_alu", "xpulp_simd", "xfvec", "xf16alt", "xcv_hwloop", "xcv_mem", "xcv_alu",
                     "xcv_simd")


def _sources() -> bytes:
    """The .py sources of the isa package (names and contents), in a fixed order."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                parts.append(os.path.relpath(path, root).encode() + b"\0" + f.read())
    return b"\0\0".join(parts)


def _load_derived() -> tuple[str, bytes] | None:
    """Fill spec.DERIVED from the cache entry of these sources; returns (entry name, sources)."""
    if diskcache.cache_dir() is None:
        return None
    src = _sources()
    name = f"isa-{zlib.crc32(src):08x}-{len(src)}.pkl"       # the contents are compared on loading
    data = diskcache.read(name)
    try:
        known = pickle.loads(data) if data is not None else None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError):
        known = None
    if isinstance(known, tuple) and len(known) == 2 and known[0] == src and isinstance(known[1], dict):
        spec.DERIVED.update(known[1])
    return name, src


def _save_derived(entry: tuple[str, bytes] | None) -> None:
    if entry is None:
        return
    table = {(e.key, e.syntax, e.encoding, e.size): (e.template, e.operands, e.match, e.mask)
             for e in spec.BY_KEY.values()}
    if table != spec.DERIVED:
        diskcache.write(entry[0], pickle.dumps((entry[1], table), protocol=pickle.HIGHEST_PROTOCOL))


_entry = _load_derived()
for _name in EXTENSION_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:   # while an extension is being written
        if exc.name != f"{__name__}.{_name}":
            raise
_save_derived(_entry)
spec.DERIVED.clear()        # entries made later (tests, tools) are checked
