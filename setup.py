"""Build of the compiled engine (cffi API mode). cffi_modules cannot be declared in pyproject.toml,
so this minimal setup.py carries it; everything else is in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["simulator/cengine/build.py:ffibuilder"])
