"""The kernel harness's error, apart from the harness so that a caller can catch it without
importing the assembler and the simulator (the command line around a cached training step)."""


class HarnessError(ValueError):
    """A kernel that cannot be laid out or run as asked (the message says why)."""
