"""ELF loading: executables linked by GNU ld and by LLVM lld run on mcusim (PT_LOAD segments at
their addresses, symbols such as tohost), and bad files are rejected in one line."""
import subprocess
from pathlib import Path

import pytest

from mcusim.simulator.functional import run_functional
from mcusim.simulator.loader import LoadError, load_program, read_elf
from tests.reference_tools import GNU_AS, LLVM_MC, tool

LLD = "/usr/lib/llvm-19/bin/ld.lld"

PROGRAM = """
    .text
    .globl _start
_start:
    la t0, value
    lw a0, 0(t0)
    addi a0, a0, 2
    la t1, tohost
    sw a0, 0(t1)
1:  j 1b
    .data
value: .word 5
    .section .tohost, "aw"
    .align 3
    .globl tohost
tohost: .word 0, 0
"""


def _link_and_run(elf: Path) -> int:
    image = load_program(elf)
    assert image.entry == image.symbols["_start"]
    assert "tohost" in image.symbols
    return run_functional(image).exit_code


def test_gnu_ld_executable_runs(tmp_path):
    (tmp_path / "p.s").write_text(PROGRAM)
    subprocess.run([tool(GNU_AS), "-march=rv32im_zicsr", "-o", "p.o", "p.s"], cwd=tmp_path, check=True)
    ld = tool(GNU_AS).replace("-as", "-ld")
    subprocess.run([ld, "-m", "elf32lriscv", "--no-relax", "-Ttext=0x80000000", "-o", "p.elf", "p.o"], cwd=tmp_path,
                   check=True)
    # tohost = 7 = (3 << 1) | 1: failure of "test 3"
    assert _link_and_run(tmp_path / "p.elf") == 3


def test_llvm_lld_executable_runs(tmp_path):
    (tmp_path / "p.s").write_text(PROGRAM)
    subprocess.run([tool(LLVM_MC), "-triple=riscv32", "-mattr=+m", "-filetype=obj", "-o", "p.o", "p.s"],
                   cwd=tmp_path, check=True)
    if not Path(LLD).exists():
        pytest.fail(f"{LLD} not found: install the Debian package lld-19 (CI: .ci/run installs it)")
    subprocess.run([LLD, "-Ttext=0x1c000000", "-o", "p.elf", "p.o"], cwd=tmp_path, check=True)
    assert _link_and_run(tmp_path / "p.elf") == 3


@pytest.mark.parametrize("data, message", [
    (b"\x7fELF" + b"\x00" * 12, "not a valid ELF file"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 57, "not"),
])
def test_bad_elf_is_rejected(data, message):
    with pytest.raises(LoadError) as err:
        read_elf(data, "bad.elf")
    assert "bad.elf" in str(err.value) and message in str(err.value)


def _image_fields(image):
    return (image.entry, image.segments, list(image.symbols.items()), image.exec_sections)


PROGRAM_WITH_SECTIONS = """
    .globl _start
_start:
    la a0, table
    lw a1, 0(a0)
1:  addi a1, a1, -1
    bnez a1, 1b
    li a7, 93
    ecall
local_fn:
    ret
    .data
table: .word 3, 4, 5
    .section .tcdm, "aw"
buf: .half 1, 2, 3
    .bss
scratch: .space 64
"""


def test_program_image_equals_the_elf_round_trip():
    """The kernel harness builds images straight from the assembled program: it must give exactly
    the Image that writing the ELF and reading it back gives (segments, symbols in order, code)."""
    from mcusim.kernels_asm import assemble, to_elf
    from mcusim.kernels_asm.kernels import registry
    from mcusim.kernels_asm.kernels.harness import layout, wrap
    from mcusim.simulator.config import load_config
    from mcusim.simulator.loader import program_image
    programs = [assemble(PROGRAM_WITH_SECTIONS, "sections.s")]
    config = load_config()
    registry.load_all()
    for kdef in registry.all_kernels():
        shape = kdef.full_shape()
        dtype = kdef.dtypes[0]
        kernel = kdef.build(shape, dtype, kdef.default_variant(shape, dtype, 8), 8)
        text = wrap(kernel, layout(kernel.tensors, config), 8)
        programs.append(assemble(text, kdef.name))
    for program in programs:
        assert _image_fields(program_image(program)) == _image_fields(read_elf(to_elf(program)))
