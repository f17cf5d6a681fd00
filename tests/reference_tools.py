"""Comparing our encodings and disassembly with the reference tools: GNU as/objdump (Debian
binutils-riscv64-unknown-elf) and llvm-mc 19 (Debian llvm-19). A missing tool fails the test and
names its package; it never skips."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

GNU_AS, GNU_OBJDUMP = "riscv64-unknown-elf-as", "riscv64-unknown-elf-objdump"
LLVM_MC = "/usr/lib/llvm-19/bin/llvm-mc"
PACKAGES = {GNU_AS: "binutils-riscv64-unknown-elf", GNU_OBJDUMP: "binutils-riscv64-unknown-elf", LLVM_MC: "llvm-19"}

Case = tuple[str, int, str]   # (entry key, word, our disassembly)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package {PACKAGES[name]} (CI: .ci/run installs it)")
    return path


def norm(text: str) -> str:
    """Disassembly text in a canonical form: no trailing comment (objdump's `# address <sym>`),
    whitespace collapsed, no space after commas, hexadecimal numbers in decimal (the tools differ)."""
    text = re.sub(r"\s+#.*$", "", text)
    text = re.sub(r"(?<![\w.])(-?)0x([0-9a-fA-F]+)", lambda m: str(int(m.group(1) + m.group(2), 16)), text)
    return re.sub(r"\s+", " ", text.replace(", ", ",")).strip()


def compare_with_gnu(cases: list[Case], tmp_path: Path, march: str = "rv32imf_zfh_zicsr_zifencei") -> list[str]:
    """Assemble our disassembly with GNU as, disassemble with objdump: differences, one per line."""
    source = tmp_path / "gnu.s"
    source.write_text("".join(f"{text}\n" for _, _, text in cases))
    obj = tmp_path / "gnu.o"
    result = subprocess.run([tool(GNU_AS), f"-march={march}", "-o", str(obj), str(source)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"GNU as rejected our disassembly:\n{result.stderr}"
    dump = subprocess.run([tool(GNU_OBJDUMP), "-d", "-M", "no-aliases", str(obj)],
                          capture_output=True, text=True, check=True).stdout
    got = re.findall(r"^\s*[0-9a-f]+:\s+([0-9a-f]{8})\s+(.*)$", dump, re.MULTILINE)
    assert len(got) == len(cases)
    return [f"{key}: ours {word:08x} '{text}', GNU {w} '{t}'" for (key, word, text), (w, t) in zip(cases, got)
            if int(w, 16) != word or norm(t) != norm(text)]


def compare_with_llvm(cases: list[Case], tmp_path: Path, mattr: str = "+m,+f,+zfh",
                      no_aliases: bool = False) -> list[str]:
    """Assemble our disassembly with llvm-mc -show-encoding: differences, one per line.
    `no_aliases` makes llvm-mc print the real instruction, not a pseudo (as objdump -M no-aliases)."""
    source = tmp_path / "llvm.s"
    source.write_text("".join(f"{text}\n" for _, _, text in cases))
    flags = ["-riscv-no-aliases"] if no_aliases else []
    result = subprocess.run([tool(LLVM_MC), "-triple=riscv32", f"-mattr={mattr}", "-show-encoding", *flags,
                             str(source)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"llvm-mc rejected our disassembly:\n{result.stderr}"
    got = re.findall(r"^\s*([a-z][^#\n]*?)\s*# encoding: \[([^\]]*)\]", result.stdout, re.MULTILINE)
    assert len(got) == len(cases)
    bad = []
    for (key, word, text), (t, enc) in zip(cases, got):
        llvm_word = int.from_bytes(bytes(int(b, 16) for b in enc.split(",")), "little")
        if llvm_word != word or norm(t) != norm(text):
            bad.append(f"{key}: ours {word:08x} '{text}', LLVM {llvm_word:08x} '{t}'")
    return bad
