"""`python -m mcusim ARGS` is the `mcusim` command."""
import sys

from mcusim.cli import main

sys.exit(main())
