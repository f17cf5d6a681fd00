"""Build of the compiled engine (cffi API mode). cffi_modules cannot be declared in pyproject.toml,
so this minimal setup.py carries it; everything else is in pyproject.toml.

The compiled engine is optional: where no working C compiler is found, the package installs without
it and every simulating command runs the Python reference, saying so in a one-line warning
(simulator/cli.py). Set MCUSIM_REQUIRE_C=1 to make a failed build fail the install instead (CI does)."""
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

BUILD_ERRORS = (CCompilerError, CompileError, ExecError, LinkError, PlatformError)


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except BUILD_ERRORS as error:
            self._skip(error)

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as error:
            self._skip(error)

    @staticmethod
    def _skip(error: Exception) -> None:
        if os.environ.get("MCUSIM_REQUIRE_C") == "1":
            raise error
        print(f"mcusim: warning: the compiled engine was not built ({error}); mcusim will run the "
              "Python reference engine, about 100 times slower", file=sys.stderr)


setup(cffi_modules=["simulator/cengine/build.py:ffibuilder"], cmdclass={"build_ext": OptionalBuildExt})
