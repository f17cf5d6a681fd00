"""The C SDK and `mcusim cc`: C programs built with clang 19 (and one with GCC + GNU ld) run on both
engines with identical output and cycles, and print what the same C prints when compiled for the
host (tests/c/host/ stands in for pmsis.h / mcusim.h there). A missing tool fails and names its
Debian package (clang-19, lld-19, gcc-riscv64-unknown-elf; .ci/run installs them)."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcusim.simulator import cc
from mcusim.simulator.cengine import binding
from mcusim.simulator.cli import CONTROLLER_MODE_SYMBOL
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import load_config
from mcusim.simulator.loader import read_elf

ROOT = Path(__file__).resolve().parent.parent
TESTS_C = ROOT / "tests" / "c"
EXAMPLES = cc.sdk_path() / "examples"
PACKAGES = {"clang-19": "clang-19", "ld.lld-19": "lld-19", "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
            "riscv64-unknown-elf-ld": "binutils-riscv64-unknown-elf", "gcc": "gcc", "llvm-objdump-19": "llvm-19"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package {PACKAGES[name]} (CI: .ci/run installs it)")
    return path


def mcusim_cc(out: Path, *args: str) -> Path:
    tool("clang-19"), tool("ld.lld-19")
    proc = subprocess.run([sys.executable, "-m", "mcusim", "cc", *args, "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def run(elf: Path, engine: str, cores: int | None = None) -> tuple[str, object, Cluster]:
    """Run like `mcusim run` (controller mode for offload programs); (console output, result, cluster)."""
    image = read_elf(elf.read_bytes(), str(elf))
    controller = cores is None and CONTROLLER_MODE_SYMBOL in image.symbols
    cluster = Cluster(image, load_config("default"), cores=cores or 1, controller=controller, engine=engine)
    out = io.StringIO()
    for core in cluster.cores:
        core.hart.console = lambda fd, data: out.write(data.decode())
    result = cluster.run()
    assert result.exit_code == 0, result.reason
    return out.getvalue(), result, cluster


def both_engines(elf: Path, cores: int | None = None) -> tuple[str, object]:
    """Run on the compiled engine and the reference: same output, cycles, per-core counters."""
    assert binding.load() is not None, "the compiled engine is not built (python simulator/cengine/build.py)"
    out_c, res_c, cl_c = run(elf, "c", cores)
    out_py, res_py, cl_py = run(elf, "py", cores)
    assert cl_c.engine_used == "c" and cl_py.engine_used == "py"
    assert out_c == out_py
    assert res_c.cycles == res_py.cycles
    assert [(c.hart.instret, c.end_cycle, dict(c.stalls)) for c in res_c.cores] == \
        [(c.hart.instret, c.end_cycle, dict(c.stalls)) for c in res_py.cores]
    return out_c, res_c


def host_output(src: Path, tmp_path: Path, *defines: str) -> str:
    exe = tmp_path / (src.stem + ".host")
    subprocess.run([tool("gcc"), "-O2", "-w", "-I", str(TESTS_C / "host"), *defines, str(src), "-o", str(exe)],
                   check=True)
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


def result_lines(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.startswith("result")]
    assert lines, f"no result line in {text!r}"
    return lines


def test_done_when_offload_fork_dma_perf(tmp_path):
    """The issue's 'done when' program: main offloads a task; the task moves data with 1-D and 2-D
    DMA, forks a matmul on 8 cores and counts cycles with pi_perf; the result matches the host."""
    src = EXAMPLES / "offload_matmul.c"
    elf = mcusim_cc(tmp_path / "offload.elf", "-O2", str(src))
    out, result = both_engines(elf)
    assert result_lines(out) == result_lines(host_output(src, tmp_path))
    assert result.mode == "controller"
    cycles = int(re.search(r"cycles: (\d+)", out).group(1))
    assert 0 < cycles < result.cycles
    # every worker took part in the fork, the DMA moved A's block, B and C
    assert all(c.hart.instret > 0 for c in result.cores[:8])


def test_fp16_scalar_and_simd_through_the_header(tmp_path):
    src = TESTS_C / "fp16.c"
    elf = mcusim_cc(tmp_path / "fp16.elf", "-O2", str(src))
    words = subprocess.run([tool("llvm-objdump-19"), "-d", "--mattr=+zfh", str(elf)], capture_output=True,
                           text=True).stdout
    out, _ = both_engines(elf)
    assert result_lines(out) == result_lines(host_output(src, tmp_path))
    assert "fmul.h" in words or "fmadd.h" in words            # scalar Zfh reached


def test_fp16_matmul_kernel_example(tmp_path):
    src = EXAMPLES / "matmul_fp16.c"
    elf = mcusim_cc(tmp_path / "mm16.elf", "-O3", "-DDIM=16", str(src))
    out, result = both_engines(elf)
    assert result_lines(out) == result_lines(host_output(src, tmp_path, "-DDIM=16"))
    assert "matmul_fp16" in result.regions                     # named by its string, no symbol


def test_printf_matches_host_libc(tmp_path):
    src = TESTS_C / "printf_formats.c"
    elf = mcusim_cc(tmp_path / "printf.elf", "-O2", str(src))
    out, _ = both_engines(elf)
    host = host_output(src, tmp_path)
    assert out == host


def test_spmd_barrier_critical_fork_and_named_region(tmp_path):
    elf = mcusim_cc(tmp_path / "spmd.elf", "-O2", str(TESTS_C / "spmd_sync.c"))
    out, result = both_engines(elf, cores=4)
    assert result_lines(out) == ["result: cores 4 counter 4 total 499500 forked 406 team 4"]
    region = result.regions["sum phase"]
    assert sorted(region.per_core) == [0, 1, 2, 3]


def test_perf_counters(tmp_path):
    elf = mcusim_cc(tmp_path / "perf.elf", "-O2", str(TESTS_C / "perf_counters.c"))
    out, _ = both_engines(elf)
    v = {k: int(x) for k, x in re.findall(r"(\w+) (\d+)", out.split("perf:")[1])}
    assert v["ld"] == 200 and v["st"] == 200 and v["branch"] == 200   # one per iteration
    assert v["instr"] == v["again"]                                    # stopped counters stay
    assert 0 < v["instr"] < v["minstret"] and v["instr"] >= 5 * 200
    assert v["instr"] <= v["cycles"] <= v["mcycle"] and v["active"] <= v["cycles"]


def test_profile_charges_functions_not_compiler_labels(tmp_path):
    from mcusim.simulator.profile import label_rows
    elf = mcusim_cc(tmp_path / "prof.elf", "-O2", str(EXAMPLES / "offload_matmul.c"))
    image = read_elf(elf.read_bytes(), str(elf))
    assert any(n.startswith("$x") or n.startswith(".L") for n in image.symbols)   # clang left them
    result = Cluster(image, load_config("default"), controller=True, engine="c", profile=True).run()
    labels = {row["label"] for row in label_rows(result.profile)}
    assert {"matmul", "cluster_task", "main"} <= labels
    assert not any(label.startswith("$") or label.startswith(".L") for label in labels)


def test_gcc_and_gnu_ld_with_the_sdk_script(tmp_path):
    """GCC 12 (-march=rv32imf, the multilib the Debian package has) and GNU ld with link.ld."""
    gcc, ld = tool("riscv64-unknown-elf-gcc"), tool("riscv64-unknown-elf-ld")
    sdk = cc.sdk_path()
    inc = subprocess.run([gcc, "-print-file-name=include"], capture_output=True, text=True).stdout.strip()
    flags = ["-march=rv32imf", "-mabi=ilp32f", "-O2", "-ffreestanding", "-nostdinc", "-isystem",
             str(sdk / "include"), "-isystem", inc]
    objs = []
    for src in [*cc.RUNTIME_SOURCES, str(EXAMPLES / "offload_matmul.c")]:
        obj = tmp_path / (Path(src).stem + ".o")
        subprocess.run([gcc, *flags, "-fno-builtin" if src.startswith("lib/") else "-O2", "-c",
                        str(sdk / src), "-o", str(obj)], check=True)
        objs.append(str(obj))
    libgcc = subprocess.run([gcc, "-march=rv32imf", "-mabi=ilp32f", "-print-libgcc-file-name"],
                            capture_output=True, text=True).stdout.strip()
    elf = tmp_path / "gnu.elf"
    subprocess.run([ld, "-m", "elf32lriscv", "--no-warn-rwx-segments", "-T", str(sdk / "link.ld"), *objs,
                    libgcc, "-o", str(elf)], check=True)
    out, result = both_engines(elf)
    assert result_lines(out) == result_lines(host_output(EXAMPLES / "offload_matmul.c", tmp_path))
    assert result.mode == "controller"


def test_cc_options_pass_through_and_several_files(tmp_path):
    (tmp_path / "k.h").write_text("int scale(int x);\n")
    (tmp_path / "k.c").write_text('#include "k.h"\nint scale(int x) { return x * FACTOR; }\n')
    (tmp_path / "m.c").write_text('#include <stdio.h>\n#include "k.h"\n'
                                  'int main(void) { printf("result: %d\\n", scale(7)); return 3; }\n')
    elf = mcusim_cc(tmp_path / "m.elf", "-O1", "-DFACTOR=6", "-I", str(tmp_path), str(tmp_path / "k.c"),
                    str(tmp_path / "m.c"))
    image = read_elf(elf.read_bytes(), str(elf))
    assert {"scale", "main", "printf", "_start"} <= image.functions
    cluster = Cluster(image, load_config("default"), cores=1, engine="c")
    out = io.StringIO()
    for core in cluster.cores:
        core.hart.console = lambda fd, data: out.write(data.decode())
    assert cluster.run().exit_code == 3
    assert out.getvalue() == "result: 42\n"


def test_cc_missing_clang_is_one_line_naming_the_packages(tmp_path):
    (tmp_path / "x.c").write_text("int main(void) { return 0; }\n")
    env = dict(os.environ, PATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "mcusim", "cc", str(tmp_path / "x.c")], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "clang-19" in proc.stderr and "lld-19" in proc.stderr


def test_cc_bad_isa_and_compile_error_are_one_line(tmp_path):
    (tmp_path / "bad.c").write_text("int main(void) { return missing; }\n")
    base = [sys.executable, "-m", "mcusim", "cc"]
    proc = subprocess.run(base + ["--isa", "arm", str(tmp_path / "bad.c")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--isa arm" in proc.stderr
    proc = subprocess.run(base + [str(tmp_path / "bad.c"), "-o", str(tmp_path / "bad.elf")], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("mcusim cc:")
    assert "missing" in proc.stderr                             # clang's own diagnostic is shown


def test_sdk_path_and_package_data():
    proc = subprocess.run([sys.executable, "-m", "mcusim", "sdk-path"], cwd=ROOT, capture_output=True,
                          text=True)
    path = Path(proc.stdout.strip())
    assert proc.returncode == 0 and path == cc.sdk_path()
    for name in ("crt0.S", "link.ld", "include/pmsis.h", "include/mcusim.h", "include/mcusim_gen.h",
                 "include/stdio.h", "lib/libc.c", "examples/offload_matmul.c"):
        assert (path / name).is_file(), name
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"sdk/**/*"' in pyproject                             # shipped by a non-editable install


def test_generated_header_is_current():
    from mcusim.simulator.sdk_gen import header
    assert (cc.sdk_path() / "include" / "mcusim_gen.h").read_text() == header(), \
        "run: python -m mcusim.simulator.sdk_gen > simulator/sdk/include/mcusim_gen.h"


def test_generated_insn_words_match_the_table(tmp_path):
    """Each generated inline function emits the word the isa/ table encodes (checked by decoding
    the compiled calls)."""
    from mcusim.isa.codec import decode
    src = tmp_path / "insn.c"
    src.write_text('#include <mcusim.h>\n'
                   'int32_t f(int32_t a, int32_t b, int32_t c) { return __p_mac(a, b, c) + __pv_add_h(a, b); }\n'
                   'v2f16 g(v2f16 a, v2f16 b, v2f16 c) { return __vfmac_h(a, b, c); }\n'
                   'float h(float a, v2f16 b, v2f16 c) { return __vfdotpex_s_h(a, b, c); }\n'
                   'v2f16 k(float a, float b) { return __vfcpka_h_s(a, b); }\n')
    obj = tmp_path / "insn.o"
    subprocess.run([tool("clang-19"), *cc.target_flags(), "-march=rv32imf_zfh", "-O2", "-c", str(src), "-o", str(obj)],
                   check=True)
    from elftools.elf.elffile import ELFFile
    with open(obj, "rb") as f:
        text = ELFFile(f).get_section_by_name(".text").data()
    words = [int.from_bytes(text[i:i + 4], "little") for i in range(0, len(text), 4)]
    names = {d.instr.mnemonic for d in map(decode, words) if d is not None}
    assert {"p.mac", "pv.add.h", "vfmac.h", "vfdotpex.s.h", "vfcpka.h.s"} <= names
    # the same calls compiled for CORE-V emit the CORE-V twins (a corev core decodes only those)
    subprocess.run([tool("clang-19"), *cc.target_flags("corev"), "-march=" + cc.march_for("corev").replace(
        cc.MARCH, "rv32imf_zfh"), "-O2", "-c", str(src), "-o", str(obj)], check=True)
    with open(obj, "rb") as f:
        text = ELFFile(f).get_section_by_name(".text").data()
    words = [int.from_bytes(text[i:i + 4], "little") for i in range(0, len(text), 4)]
    from mcusim.isa.spec import ENCODINGS
    rows = {r.mnemonic: r for r in ENCODINGS if r.mnemonic in ("cv.mac", "cv.add.h", "p.mac", "pv.add.h")}
    for mnemonic in ("cv.mac", "cv.add.h"):
        assert any(w & rows[mnemonic].mask == rows[mnemonic].match for w in words), mnemonic
    for mnemonic in ("p.mac", "pv.add.h"):
        assert not any(w & rows[mnemonic].mask == rows[mnemonic].match for w in words), mnemonic
    names = {d.instr.mnemonic for d in (decode(w, "corev") for w in words) if d is not None}
    assert {"vfmac.h", "vfdotpex.s.h", "vfcpka.h.s"} <= names


def test_dma_wait_for_one_transfer_and_2d_both_ways(tmp_path):
    elf = mcusim_cc(tmp_path / "dma.elf", "-O2", str(TESTS_C / "dma_wait.c"))
    out, _ = both_engines(elf, cores=1)
    v = {k: int(x) for k, x in re.findall(r"(\w+) (\d+)", out.split("dma: ids")[1])}
    assert v["busy_after_a"] == 1            # the second transfer still moves after waiting for the first
    assert v["busy_after_flush"] == 0
    assert v["big_ok"] == v["small_ok"] == v["tile_ok"] == 1


def test_named_region_marker_errors_are_one_line(tmp_path):
    """A named marker whose address holds no NUL-terminated name is a program error naming the core,
    pc and instruction (same on both engines)."""
    from mcusim.kernels_asm import assemble, to_elf
    from mcusim.simulator.functional import SimulationError
    from mcusim.simulator import memory_map as mm
    src = f"""
    .globl _start
_start:
    la a0, name
    sw a0, {mm.alias(mm.REGION_NAME_BEGIN)}(x0)
    sw a0, {mm.alias(mm.REGION_NAME_END)}(x0)
    li a0, 0x1C100000
    sw a0, {mm.alias(mm.REGION_NAME_BEGIN)}(x0)
    li a7, 93
    ecall
    .data
name: .asciz "asm region"
"""
    image = read_elf(to_elf(assemble(src, "<t>")), "<t>")
    for engine in ("c", "py"):
        cluster = Cluster(image, load_config("default"), cores=1, engine=engine)
        with pytest.raises(SimulationError) as err:
            cluster.run()
        assert "core 0" in str(err.value) and "region marker name at 0x1c100000" in str(err.value)
        assert "\n" not in str(err.value)
        assert "asm region" in cluster.regions


def test_cc_isa_corev_adds_the_xcv_extensions(tmp_path):
    """`--isa corev`: clang emits CORE-V words (cv.max here) and records the arch in .riscv.attributes,
    from which mcusim picks the custom-instruction set."""
    from elftools.elf.elffile import ELFFile
    (tmp_path / "m.c").write_text("int f(int *a, int n) { int m = 0; for (int i = 0; i < n; i++)"
                                  " { int v = a[i]; m = v > m ? v : m; } return m; }\n"
                                  "int main(void) { int a[5] = {3, 9, 2, 7, 5}; return f(a, 5); }\n")
    elf = mcusim_cc(tmp_path / "cv.elf", "--isa", "corev", "-O3", str(tmp_path / "m.c"))
    with open(elf, "rb") as f:
        attrs = ELFFile(f).get_section_by_name(".riscv.attributes").data()
    for ext in cc.COREV_EXTENSIONS:
        assert ext.encode() in attrs
    listing = subprocess.run([tool("llvm-objdump-19"), "-d", "--mattr=+xcvalu,+xcvmem", str(elf)],
                             capture_output=True, text=True).stdout
    assert "cv.max" in listing
    image = read_elf(elf.read_bytes(), str(elf))
    assert image.custom_isa == "corev"
    results = [Cluster(image, load_config("default", overrides={"core": {"custom_isa": "corev"}}), cores=1,
                       engine=engine).run() for engine in ("c", "py")]
    assert [r.exit_code for r in results] == [9, 9]              # max of the array, through cv.max
    assert results[0].cycles == results[1].cycles
