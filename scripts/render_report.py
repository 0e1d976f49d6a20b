"""Screenshot an HTML report with headless Chromium, to check that it renders offline.

    python scripts/render_report.py REPORT.html --out SHOT.png [--width 1400] [--height 2000] [--full-page]

``--full-page`` renders in a window ``--max-height`` pixels tall and crops the empty
background below the end of the page (headless Chromium screenshots only its window).
Exits 2 with one line when Chromium or the report is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")
MAX_HEIGHT = 16_000


def find_chromium() -> str | None:
    """The Chromium executable (``$CHROMIUM`` first), or None."""
    for name in (os.environ.get("CHROMIUM"), *CANDIDATES):
        if name and (found := shutil.which(name)):
            return found
    return None


def crop_bottom(path: Path) -> int:
    """Cut the rows below the page's end (all equal to the last row) off a screenshot; returns its height."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    same = (pixels == pixels[-1]).all(axis=(1, 2))
    rows = len(same) - int(np.argmin(same[::-1])) if not same.all() else len(same)
    Image.fromarray(pixels[: min(len(same), rows + 16)]).save(path)
    return min(len(same), rows + 16)


def render(report: Path, out: Path, width: int = 1400, height: int = 2000, timeout: float = 120.0) -> Path:
    """Write a PNG screenshot of ``report`` (window ``width`` x ``height``); returns ``out``."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium not found (install it or set $CHROMIUM)")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="corroseg-chromium-") as profile:
        command = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}",
                   f"--window-size={width},{height}", report.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"chromium failed (exit {done.returncode}): {tail[0]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--full-page", action="store_true", help="the whole page (up to --max-height)")
    parser.add_argument("--max-height", type=int, default=MAX_HEIGHT, help="window height of --full-page")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(f"error: {args.report}: no such report", file=sys.stderr)
        return 2
    if find_chromium() is None:
        print("error: chromium not found (install it or set $CHROMIUM)", file=sys.stderr)
        return 2
    height = args.max_height if args.full_page else args.height
    try:
        shot = render(args.report, args.out, args.width, height)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.full_page:
        height = crop_bottom(shot)
    print(f"{shot} ({args.width} x {height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
