"""Generated documents are up to date (regenerate with the command in each file's header)."""
from pathlib import Path

from mcusim.isa.docs import render as render_isa
from mcusim.simulator.config import render_docs as render_config

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_isa_md_is_current():
    assert (DOCS / "ISA.md").read_text() == render_isa(), "run: python -m mcusim.isa.docs > docs/ISA.md"


def test_config_md_is_current():
    assert (DOCS / "CONFIG.md").read_text() == render_config(), "run: python -m mcusim.simulator.config > docs/CONFIG.md"


def test_isa_md_lists_every_instruction():
    from mcusim.isa.spec import INSTRUCTIONS
    text = (DOCS / "ISA.md").read_text()
    missing = [e.key for e in INSTRUCTIONS if f"`{e.mnemonic} {e.syntax}".strip() not in text]
    assert not missing
