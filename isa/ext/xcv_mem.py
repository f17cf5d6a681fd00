"""CORE-V XCVmem: the CV32E40P v2 encodings of the post-increment and register-offset loads and
stores (CV32E40P user manual, "CORE-V Instruction Set Custom Extensions", "Post-Increment Load &
Store Instructions"; LLVM 19 RISCVInstrInfoXCV.td, syntax checked with llvm-mc-19 -mattr=+xcvmem).

Each row is a second encoding of its Xpulpv2 twin in isa/ext/xpulp_mem.py: same semantics and timing.
The immediate post-increment forms keep Xpulpv2's words (opcodes 0x0B / 0x2B); the register forms
moved to custom-1 (0x2B) with funct3 = 3 and funct7 selecting the operation.
"""
from mcusim.isa.spec import find, second_encoding

EXT = "XCVmem"
RR = "14..12=3 6..0=0x2b"
# suffix, funct7 of the register post-increment form, funct7 of the register-offset form
LOADS = (("b", 0x00, 0x04), ("bu", 0x08, 0x0C), ("h", 0x01, 0x05), ("hu", 0x09, 0x0D), ("w", 0x02, 0x06))
STORES = (("b", 0x10, 0x14), ("h", 0x11, 0x15), ("w", 0x12, 0x16))

for _suffix, _post, _offset in LOADS:
    _twin = f"p.l{_suffix}"
    _entry = f"cv.l{_suffix}"
    second_encoding(f"{_twin} [imm post-inc]", _entry, find(f"{_twin} [imm post-inc]").encoding, EXT,
                    "rd, (rs1), imm12", form="imm post-inc")
    second_encoding(f"{_twin} [reg post-inc]", _entry, f"31..25={_post} {RR}", EXT, "rd, (rs1), rs2",
                    form="reg post-inc")
    second_encoding(f"{_twin} [reg offset]", _entry, f"31..25={_offset} {RR}", EXT, "rd, rs2(rs1)",
                    form="reg offset")

for _suffix, _post, _offset in STORES:
    _twin = f"p.s{_suffix}"
    _entry = f"cv.s{_suffix}"
    second_encoding(f"{_twin} [imm post-inc]", _entry, find(f"{_twin} [imm post-inc]").encoding, EXT,
                    "rs2, (rs1), simm12", form="imm post-inc")
    second_encoding(f"{_twin} [reg post-inc]", _entry, f"31..25={_post} {RR}", EXT, "rs2, (rs1), rs3",
                    form="reg post-inc")
    second_encoding(f"{_twin} [reg offset]", _entry, f"31..25={_offset} {RR}", EXT, "rs2, rs3(rs1)",
                    form="reg offset")
