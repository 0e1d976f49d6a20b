"""Run one ``corroseg`` command in a fresh process; report its exit code, seconds and peak RSS.

A fresh process per measurement keeps peaks independent of what ran before.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from corroseg.cli import app
started = time.perf_counter()
code = 0
try:
    app(sys.argv[2:], prog_name="corroseg")
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as f:
    json.dump({"exit": code, "seconds": time.perf_counter() - started,
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, f)
"""


def run_measured(args: list[str], stdout=subprocess.DEVNULL) -> dict:
    """``corroseg ARGS`` in a child process: ``{"exit", "seconds", "peak_rss_mib"}``."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-c", CHILD, str(report), *args], check=True, stdout=stdout)
        return json.loads(report.read_text())
