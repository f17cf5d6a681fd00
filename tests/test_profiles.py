"""ISA profiles (core.extensions): configuration, illegal instructions outside the profile on both
engines, and kernel variants chosen within the profile."""
import pytest

from mcusim.isa.profiles import KNOWN, PROFILES, extensions_of_source, resolve
from mcusim.kernels_asm import assemble, to_elf
from mcusim.kernels_asm.kernels import registry
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import ConfigError, load_config
from mcusim.simulator.functional import SimulationError
from mcusim.simulator.loader import read_elf

DOTP = """
    .globl _start
_start:
    li t0, 0x3c003c00
    fmv.w.x ft0, t0
    fmv.w.x ft1, t0
    fmv.w.x ft2, zero
    vfdotpex.s.h ft2, ft0, ft1
    fcvt.w.s a0, ft2
    li a7, 93
    ecall
"""


def run(source: str, extensions: str, engine: str):
    image = read_elf(to_elf(assemble(source, "<profile>")), "<profile>")
    config = load_config(overrides={"core": {"extensions": extensions}})
    return Cluster(image, config, cores=1, engine=engine).run()


def test_profiles_resolve_and_pulp_lacks_exactly_the_dot_products():
    assert resolve("all") == frozenset(KNOWN)
    assert PROFILES["all"] - resolve("pulp") == {"Xfaux", "Xfauxalt"}
    assert resolve("RV32I, RV32M") == {"RV32I", "RV32M"}


@pytest.mark.parametrize("bad, named", [("nope", "nope"), ("RV32I,Xwhat", "Xwhat"), ("RV32M", "RV32I"), ("", "''")])
def test_bad_profiles_are_one_line_config_errors_naming_the_culprit(bad, named):
    with pytest.raises(ConfigError, match="core.extensions") as err:
        load_config(overrides={"core": {"extensions": bad}})
    assert named in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("engine", ["py", "c"])
def test_an_instruction_outside_the_profile_is_illegal(engine):
    assert run(DOTP, "all", engine).exit_code == 2        # 1*1 + 1*1 = 2
    with pytest.raises(SimulationError) as err:
        run(DOTP, "pulp", engine)
    assert "illegal instruction" in str(err.value) and "Xfaux" in str(err.value)


def test_both_engines_report_the_same_illegal_instruction():
    messages = []
    for engine in ("py", "c"):
        with pytest.raises(SimulationError) as err:
            run(DOTP, "pulp", engine)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_extensions_of_source_reads_mnemonics_not_pseudo_or_labels():
    text = "loop: vfdotpex.s.h ft0, ft1, ft2\n li a0, 1\n p.lw a1, 4(a2!)\n .word 3\n # vfmac.h\n"
    assert extensions_of_source(text) == {"Xfaux", "Xpulpv2"}


def test_kernels_choose_a_variant_the_profile_allows():
    kdef = registry.get("matmul")
    pulp = load_config(overrides={"core": {"extensions": "pulp"}})
    shape = kdef.full_shape({"m": 16, "n": 16, "k": 16})
    for variant in kdef.variants["fp16"]:
        variant_chosen, program = registry.build_allowed(kdef, shape, "fp16", None, 8, pulp)
        assert not registry.missing_extensions(program, pulp)
    outcome = registry.run(kdef, shape, "fp16", None, 8, pulp, engine="c")
    assert outcome.check.ok


def test_a_kernel_with_no_allowed_variant_names_what_is_missing():
    kdef = registry.get("matmul_bt")
    pulp = load_config(overrides={"core": {"extensions": "pulp"}})
    shape = kdef.full_shape({"m": 8, "n": 8, "k": 8})
    uses_dotp = [v for v in kdef.variants["fp16"]
                 if registry.missing_extensions(kdef.build(shape, "fp16", v, 8), pulp)]
    assert uses_dotp, "no fp16 matmul_bt variant uses vfdotpex: this test needs another kernel"
    with pytest.raises(ValueError, match="Xfaux"):
        registry.run(kdef, shape, "fp16", uses_dotp[0], 8, pulp, engine="c")
