"""Subprocesses that the tests start (the `mcusim` command, sweep workers) import this source tree,
not whichever copy of mcusim is installed."""
import os
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join([ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])
