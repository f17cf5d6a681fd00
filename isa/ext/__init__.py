"""Instruction tables, one module per extension. Importing this package registers them all."""
import importlib

# Order matters only for the documentation (docs/ISA.md lists extensions in this order).
EXTENSION_MODULES = ("rv32i", "rv32m", "zicsr", "rv32f", "zfh", "xpulp_hwloop", "xpulp_mem",
                     "xpulp_alu", "xpulp_simd", "xfvec", "xf16alt", "xcv_hwloop", "xcv_mem", "xcv_alu",
                     "xcv_simd")

for _name in EXTENSION_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:   # while an extension is being written
        if exc.name != f"{__name__}.{_name}":
            raise
