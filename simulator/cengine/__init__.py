"""The compiled engine (C through cffi): sources, build script and Python binding.

`simulator.cengine.binding.load()` returns the compiled module or None when it was not built;
the engines then fall back to the pure-Python reference.
"""
