"""The on-disk cache (simulator.diskcache): the compiled step program and the pre-decoded code table
read back from it are the ones computed afresh; a changed input is a different entry; a damaged
entry is a miss; MCUSIM_CACHE='' writes nothing."""
from __future__ import annotations

import pytest

from mcusim.simulator import diskcache
from mcusim.simulator.cengine import binding
from mcusim.simulator.cengine.engine import CEngine
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import load_config
from mcusim.workloads import model, networks, reference, step_program

NET = networks.single_conv2d(cin=4, h=8, w=8, cout=4, kernel=3, padding=1)


def _compile(lr: float = 0.01) -> step_program.StepProgram:
    net = model.build(NET)
    params = reference.init_params(net, 0, "fp16")
    x, t = reference.random_input(net, 0, "fp16"), reference.random_target(net, 0, "fp16")
    return step_program.compile_step(net, "fp16", load_config(), 8, params, x, t, lr)


def _same(a: step_program.StepProgram, b: step_program.StepProgram) -> None:
    assert a.text == b.text and a.steps == b.steps and a.l2_bytes == b.l2_bytes
    assert {k: (v.offset, v.nbytes, v.data) for k, v in a.l2.items()} == \
        {k: (v.offset, v.nbytes, v.data) for k, v in b.l2.items()}
    ia, ib = a.image(), b.image()
    assert ia.entry == ib.entry and ia.symbols == ib.symbols
    assert [(s.address, bytes(s.data)) for s in ia.segments] == [(s.address, bytes(s.data)) for s in ib.segments]


def test_step_program_cache_hits_misses_and_damage(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MCUSIM_CACHE", "")
    fresh = _compile()
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("MCUSIM_CACHE", str(tmp_path))
    first = _compile()
    entries = sorted(tmp_path.glob("stepprog-*.pkl"))
    assert len(entries) == 1
    _same(fresh, first)
    again = _compile()
    assert again is not first
    _same(fresh, again)
    # another learning rate is another program (the L2 holds lr), hence another entry
    other = _compile(lr=0.02)
    assert len(list(tmp_path.glob("stepprog-*.pkl"))) == 2
    assert other.l2["lr"].data != fresh.l2["lr"].data
    # a damaged entry is a miss: compiled again, and rewritten
    entries[0].write_bytes(b"not a pickle")
    _same(fresh, _compile())
    assert entries[0].read_bytes() != b"not a pickle"
    entries[0].write_bytes(entries[0].read_bytes()[:100])      # truncated
    _same(fresh, _compile())


def _table(cluster: Cluster) -> bytes:
    ce = cluster.cengine
    m = ce.state.mem
    return bytes(ce.ffi.buffer(m.code, m.code_halves * ce.ffi.sizeof("McuInsn")))


@pytest.mark.skipif(binding.load() is None, reason="the compiled engine is not built")
def test_predecoded_table_cache(tmp_path, monkeypatch) -> None:
    image = _compile().image()
    cfg = load_config()
    monkeypatch.setattr(CEngine, "DISK_TABLE_HALVES", 16)
    monkeypatch.setenv("MCUSIM_CACHE", "")
    fresh = _table(Cluster(image, cfg, engine="c", controller=True))
    monkeypatch.setenv("MCUSIM_CACHE", str(tmp_path))
    assert _table(Cluster(image, cfg, engine="c", controller=True)) == fresh
    entries = list(tmp_path.glob("predecode-*.bin"))
    assert len(entries) == 1 and entries[0].read_bytes() == fresh
    cached = Cluster(image, cfg, engine="c", controller=True)
    assert _table(cached) == fresh
    assert cached.run().cycles == Cluster(image, cfg, engine="py", controller=True).run().cycles
    entries[0].write_bytes(fresh[:-8])                 # the wrong size: a miss, pre-decoded again
    assert _table(Cluster(image, cfg, engine="c", controller=True)) == fresh
    # another configuration of the core (its ISA profile) is another entry
    other = load_config(overrides={"core": {"custom_isa": "corev"}})
    Cluster(image, other, engine="c", controller=True)
    assert len(list(tmp_path.glob("predecode-*.bin"))) == 2


def test_source_hash_follows_the_sources(tmp_path) -> None:
    (tmp_path / "pkg").mkdir()
    f = tmp_path / "pkg" / "a.py"
    f.write_text("x = 1\n")
    before = diskcache.source_hash(tmp_path / "pkg")
    diskcache._HASHES.clear()
    f.write_text("x = 2\n")
    assert diskcache.source_hash(tmp_path / "pkg") != before
