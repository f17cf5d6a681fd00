"""Kernel library: generated assembly kernels (matmul, transforms, layers), the harness that runs
them on the cluster (`harness`), the registry behind `mcusim kernel` (`registry`) and its CLI (`cli`).
See docs/KERNELS.md for the measured performance."""
