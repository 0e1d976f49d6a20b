"""The ``corroseg`` command line: parse, call one workflow per command, print.

``common`` holds the app and what every command shares; the commands live in
``data_commands`` (inspect, wells, models, synth, realism) and ``run_commands``
(train, evaluate, predict, export, report, demo), registered in that order.
"""

from __future__ import annotations

import sys

from corroseg.cli import data_commands, run_commands  # noqa: F401 - importing them registers the commands
from corroseg.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
