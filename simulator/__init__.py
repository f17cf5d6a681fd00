"""The mcusim simulator: hart state and reference interpreter, memory, ELF loading, command line."""
