"""What every command module shares: its exit codes and how it adds itself to the parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from parlour.config import Settings

EXIT_FAILED = 1
EXIT_CONFIGURATION = 2

Command = Callable[[argparse.Namespace, Settings], int]
"""A command's work: its parsed arguments and the settings in, its exit status out."""
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where a module adds its commands (``parser.add_subparsers()``)."""
