"""The on-disk cache of derived artefacts (assembled step programs, pre-decoded code tables).

Everything stored here is a pure function of its key: the key holds the inputs and a hash of the
sources that compute the artefact, so a changed tool never reuses a stale entry. The directory is
$MCUSIM_CACHE, else ~/.cache/mcusim; MCUSIM_CACHE='' (empty) disables the cache. Writes go through a
temporary file renamed into place, so concurrent processes see an old entry or a whole new one; a
missing, unreadable or truncated entry is a miss.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_HASHES: dict[tuple[str, ...], str] = {}


def cache_dir() -> Path | None:
    """The cache directory, or None when MCUSIM_CACHE is set to the empty string."""
    d = os.environ.get("MCUSIM_CACHE")
    if d == "":
        return None
    return Path(d) if d else Path.home() / ".cache" / "mcusim"


def source_hash(*roots: Path) -> str:
    """A hash of the .py (and .h/.c) sources under `roots` (files or directories), memoised per process."""
    key = tuple(str(r) for r in roots)
    if key not in _HASHES:
        import hashlib
        h = hashlib.sha256()
        for root in roots:
            files = [root] if root.is_file() else sorted(
                f for f in root.rglob("*") if f.suffix in (".py", ".h", ".c") and f.is_file())
            for f in files:
                h.update(str(f.relative_to(root.parent)).encode())
                h.update(f.read_bytes())
        _HASHES[key] = h.hexdigest()[:16]
    return _HASHES[key]


def package_root(module: Any) -> Path:
    return Path(module.__file__).parent


def read(name: str) -> bytes | None:
    """The entry `name`, or None (no cache, no entry, unreadable)."""
    d = cache_dir()
    if d is None:
        return None
    try:
        return (d / name).read_bytes()
    except OSError:
        return None


def write(name: str, data: bytes) -> None:
    """Store entry `name` (silently nothing when there is no writable cache)."""
    d = cache_dir()
    if d is None:
        return
    path = d / name
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        pass
