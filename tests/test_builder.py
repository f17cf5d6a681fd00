"""kernels_asm.Builder: programs written from Python equal the same text assembled, and errors
point at the Python line (and column) that made the offending statement."""
import struct

import pytest

from mcusim.kernels_asm import AsmError, Builder, assemble


def example() -> Builder:
    b = Builder()
    b.text()
    b.globl("_start")
    b.label("_start")
    b.li("a0", 10)
    b.la("a2", "buf")
    b.label("loop")
    b.addi("a0", "a0", -1)
    b.emit("p.lw", "a1", "4(a2!)")
    b.p_lw("a1", "a3(a2!)")
    b.lp_setupi("x0", 4, "end")
    b.and_("a4", "a4", "a1")
    b.fadd_s("fa0", "fa1", "fa2", "rtz")
    b.label("end")
    b.fence_i()
    b.bnez("a0", "loop")
    b.ret()
    b.data()
    b.align(3)
    b.label("buf")
    b.word(1, 2, "buf")
    b.half(3)
    b.byte(4, -1)
    b.float32(1.5, "0.1")
    b.float16(0.25)
    b.string('q"\\\n')
    b.balign(4)
    b.space(8, 0xAA)
    b.equ("N", 16)
    b.word("N * 2")
    b.section(".tcdm")
    b.label("tbuf")
    b.space(16)
    b.section(".l1.zero", "aw", nobits=True)
    b.space(4)
    b.bss()
    b.space(4)
    b.rodata()
    b.word(7)
    b.line("x: nop  # raw text")
    return b


def test_builder_equals_text_assembly():
    b = example()
    built = b.assemble()
    text = assemble(b.source())
    assert built.sections == text.sections
    assert built.symbols == text.symbols
    assert built.entry == text.entry == built.symbol("_start")


def test_generated_source():
    src = example().source()
    assert "\tp.lw a1, 4(a2!)\n\tp.lw a1, a3(a2!)\n\tlp.setupi x0, 4, end\n\tand a4, a4, a1\n" in src
    assert "\tfadd.s fa0, fa1, fa2, rtz\n" in src and "\tfence.i\n" in src
    assert '\t.section .l1.zero, "aw", @nobits\n' in src
    assert "\t.float 1.5, 0.1\n" in src


def test_data_values():
    prog = example().assemble()
    data = prog.section(".data").data
    buf = prog.symbol("buf")
    assert struct.unpack_from("<3IHbb", data) == (1, 2, buf, 3, 4, -1)
    assert struct.unpack_from("<2IH", data, 16) == (0x3FC00000, 0x3DCCCCCD, 0x3400)
    assert data[26:32] == b'q"\\\n\0\0'
    assert data[32:40] == b"\xaa" * 8 and struct.unpack_from("<I", data, 40) == (32,)
    assert prog.section(".l1.zero").nobits


def test_float32_is_exact_for_python_floats():
    # 1 + 2**-24 lies exactly halfway between two float32 values: it must round to even (1.0), though
    # its short repr "1.0000000596046448" is above the midpoint and would round up.
    b = Builder()
    b.data()
    b.float32(1 + 2**-24, 0.1, -2.5, float("inf"))
    b.float16(1 + 2**-11, 65504.0)
    data = b.assemble().section(".data").data
    assert struct.unpack("<4I2H", data) == (0x3F800000, 0x3DCCCCCD, 0xC0200000, 0x7F800000, 0x3C00, 0x7BFF)


def test_error_points_at_the_python_caller():
    b = Builder()
    b.li("a0", 1)
    here = test_error_points_at_the_python_caller.__code__.co_firstlineno
    if True:
        b.addi("a0", "a0", 5000)          # the bad statement: line here + 5, column 9
    with pytest.raises(AsmError) as err:
        b.assemble()
    e = err.value
    assert (e.file, e.line, e.column) == (__file__, here + 5, 9)
    assert "imm12 value 5000 out of range [-2048, 2047]" in e.message
    assert "(in `addi a0, a0, 5000`)" in e.message
    assert str(e).startswith(f"{__file__}:{here + 5}:9: error: ")


def test_error_in_a_helper_points_at_the_helper_call():
    def emit_loop(b: Builder, target: str) -> None:
        b.bnez("a0", target)

    b = Builder()
    emit_loop(b, "nowhere")
    line = test_error_in_a_helper_points_at_the_helper_call.__code__.co_firstlineno + 2
    with pytest.raises(AsmError) as err:
        b.assemble()
    assert (err.value.file, err.value.line) == (__file__, line)
    assert "undefined symbol 'nowhere'" in err.value.message


def test_unknown_mnemonic_through_getattr():
    b = Builder()
    b.p_lwx("a0", "0(a1)")
    with pytest.raises(AsmError) as err:
        b.assemble()
    assert "unknown instruction 'p.lwx' (did you mean p.lw" in err.value.message


def test_operand_types_are_checked():
    b = Builder()
    with pytest.raises(TypeError):
        b.addi("a0", "a0", 1.5)
    with pytest.raises(AttributeError):
        b._private()


def test_section_addresses_pass_through():
    b = Builder()
    b.label("_start")
    b.nop()
    assert b.assemble({".text": 0x80000000}).entry == 0x80000000
