"""The user-mistake exception of every `mcusim` command (its own module so that every package can
raise it without importing the command line, and `python -m mcusim` catches the same class)."""
from __future__ import annotations


class UserError(Exception):
    """A mistake of the user's (bad file, option, program): reported in one line, exit status 2."""
