"""Start-up (issue 13): what the command line imports on its paths, the instruction table's derived
fields read back from the disk cache, and the collector paused during start-up. Each check runs in
a fresh interpreter (a subprocess), where imports and the collector start from scratch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("mcusim.kernels_asm.assembler", "mcusim.workloads.step_lower", "mcusim.kernels_asm.kernels.harness",
         "mcusim.kernels_asm.kernels.layers_conv", "rich")
TINY = ["train", "conv2d", "--cin", "2", "--cout", "2", "--h", "4", "--w", "4", "--dtype", "fp16"]


def _python(code: str, cache: Path | str, *args: str) -> dict:
    """Run `code` in a fresh interpreter (cwd: the tree under test) with MCUSIM_CACHE=cache; it
    prints one JSON document, returned."""
    env = dict(os.environ, MCUSIM_CACHE=str(cache))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_option_parsing_imports_no_heavy_module(tmp_path) -> None:
    """Building any subcommand's parser needs neither numpy nor the simulator nor the kernels."""
    got = _python("""
        import json, sys
        from mcusim import cli
        for name in cli.COMMANDS:
            cli.build_parser(name)
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("numpy", "rich", "simpy", "mcusim.workloads.train",
                                                                        "mcusim.kernels_asm.assembler")))))
    """, tmp_path)
    assert got == []


def test_cached_training_step_imports_no_compiler(tmp_path) -> None:
    """A training step whose program is in the disk cache loads it without the step compiler, the
    kernel library, the assembler or rich (-q), and gives the same JSON as the first run."""
    code = """
        import io, json, sys, contextlib
        from mcusim import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = cli.main(sys.argv[1:] + ["-q", "--json", "-"])
        print(json.dumps({"status": status, "doc": json.loads(out.getvalue()),
                          "modules": sorted(m for m in sys.modules if m.startswith(%r))}))
    """ % (HEAVY,)
    first = _python(code, tmp_path, *TINY)
    again = _python(code, tmp_path, *TINY)
    assert first["status"] == again["status"] == 0
    assert first["doc"] == again["doc"]
    assert "mcusim.workloads.step_lower" in first["modules"]          # compiled: the control
    assert again["modules"] == []


def test_isa_table_from_the_cache_is_the_checked_one(tmp_path) -> None:
    """The entries' derived fields read back from the cache equal those built and checked afresh;
    a damaged entry is rebuilt; MCUSIM_CACHE='' writes nothing."""
    code = """
        import json
        import mcusim.isa.ext
        from mcusim.isa import spec
        print(json.dumps(sorted([e.key, e.syntax, e.encoding, list(e.template), list(e.operands), e.match, e.mask,
                                 e.description] for e in spec.BY_KEY.values())))
    """
    fresh = _python(code, "")
    assert fresh
    off = tmp_path / "off"
    assert _python(code, "") == fresh and not off.exists()
    first = _python(code, tmp_path)
    entries = sorted(tmp_path.glob("isa-*.pkl"))
    assert len(entries) == 1
    assert first == fresh and _python(code, tmp_path) == fresh
    entries[0].write_bytes(entries[0].read_bytes()[:100])          # truncated: a miss, rewritten
    assert _python(code, tmp_path) == fresh
    assert len(entries[0].read_bytes()) > 100


def test_cached_table_keeps_later_entries_checked(tmp_path) -> None:
    """After import, a new entry with a typo still fails its checks (the cache covers the table only)."""
    got = _python("""
        import json
        import mcusim.isa.ext
        from mcusim.isa import spec
        try:
            spec.Instr("zz", "rd, rs1", "6..0=0x0b", lambda h, d: None, "alu", "test")
            print(json.dumps("accepted"))
        except ValueError as exc:
            print(json.dumps(str(exc)))
    """, tmp_path)
    assert "neither fixed nor an operand" in got


@pytest.mark.parametrize("how", ["command", "call"])
def test_collector_paused_until_the_simulation(tmp_path, how: str) -> None:
    """`mcusim` as the process's command starts with the collector off and turns it on (after
    freezing what start-up made) when the simulation starts; a call with argv leaves it alone."""
    prog = tmp_path / "exit.s"
    prog.write_text("    .globl _start\n_start:\n    li a7, 93\n    li a0, 0\n    ecall\n")
    got = _python(f"""
        import gc, io, json, sys, contextlib
        from mcusim import cli
        from mcusim.simulator import cluster
        seen = []
        run = cluster.Cluster.run
        def spy(self, *a, **k):
            seen.append([gc.isenabled(), gc.get_freeze_count() > 0])
            return run(self, *a, **k)
        cluster.Cluster.run = spy
        sys.argv = ["mcusim", "run", {str(prog)!r}, "-q"]
        with contextlib.redirect_stdout(io.StringIO()):
            status = cli.main() if {how!r} == "command" else cli.main(sys.argv[1:])
        print(json.dumps({{"status": status, "seen": seen, "enabled": gc.isenabled()}}))
    """, tmp_path)
    assert got["status"] == 0 and got["enabled"]
    assert got["seen"] == [[True, how == "command"]]
