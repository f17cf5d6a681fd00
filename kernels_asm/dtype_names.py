"""The names of the floating-point data types (kernels_asm.dtypes is their table): apart so that the
command line's options can list them without importing numpy."""

FLOAT_DTYPES = ("fp32", "fp16", "bf16")
HALF_DTYPES = ("fp16", "bf16")
