"""The report's HTML pieces: escaping, number formats, tables, embedded PNGs, sections and the page."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from corroseg.errors import CorrosegInputError


MAX_IMAGE_PIXELS = 1_600_000
"""Largest embedded PNG (pixels); bigger figures are drawn at a lower resolution."""


class _Missing(Exception):
    """An input of a section is absent; the message is the section's one line."""


def _esc(text) -> str:
    return html.escape(str(text))


def _fmt(value, spec: str = ".3f") -> str:
    """A number for a table; ``n/a`` for a figure that does not exist (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    return format(value, spec)


def _pct(value, digits: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.{digits}f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence], css: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _missing(text: str) -> str:
    return f'<p class="missing">{_esc(text)}</p>'


def png_data_uri(fig, max_pixels: int = MAX_IMAGE_PIXELS) -> str:
    """A figure as a ``data:image/png;base64,...`` URI of at most ``max_pixels`` pixels.

    A figure of at most 256 colours is stored as a palette PNG (lossless, smaller).
    """
    width, height = fig.get_size_inches()
    dpi = min(100.0, math.sqrt(max_pixels / (width * height)))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    raw = buffer.getvalue()
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    if image.getcolors(256) is not None:
        indexed = image.quantize(256, method=Image.Quantize.FASTOCTREE)
        if np.array_equal(np.asarray(indexed.convert("RGB")), np.asarray(image)):  # lossless only
            palette = io.BytesIO()
            indexed.save(palette, format="PNG", optimize=True)
            raw = min(raw, palette.getvalue(), key=len)
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def _img(fig, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_data_uri(fig)}" alt="{_esc(alt)}">{cap}</figure>'


@dataclass


class Section:
    """One ``<section>`` of the report: anchor id, heading and HTML body."""

    id: str
    title: str
    body: str

    def html(self) -> str:
        return f'<section id="{_esc(self.id)}"><h2>{_esc(self.title)}</h2>\n{self.body}\n</section>'


def _cards(items: Sequence[tuple[str, str, str]]) -> str:
    cards = "".join(f'<div class="card"><div class="label">{_esc(label)}</div><div class="value">{_esc(value)}'
                    f'</div><div class="note">{_esc(note)}</div></div>' for label, value, note in items)
    return f'<div class="cards">{cards}</div>'


def _kv(items) -> str:
    """Key-value pairs in a grid of columns (a long config stays one screen tall)."""
    cells = "".join(f'<div><span class="k">{_esc(k)}</span><span class="v">{_esc(_compact(v))}</span></div>'
                    for k, v in items)
    return f'<div class="kv">{cells}</div>'


def _flat(mapping: dict) -> list[tuple[str, object]]:
    """Items of a mapping, one level of nested mappings spelled ``outer.inner``."""
    items = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            items.extend((f"{key}.{k}", v) for k, v in value.items())
        else:
            items.append((key, value))
    return items


def _compact(value) -> str:
    """A config value on one line: lists and mappings as JSON (lists of wells sorted)."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        value = sorted(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return _fmt(value, ".4g") if isinstance(value, float) else str(value)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9;line-height:1.45}
main{max-width:1360px;margin:0 auto;padding:18px 28px 40px}
header{background:#1f2d3d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:24px}header p{margin:2px 0;color:#c9d3de;font-size:13px}
nav{font-size:13px;margin:10px 0 0}nav a{color:#9fd0ff;margin-right:14px;text-decoration:none}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:14px 20px;margin:18px 0}
h2{margin:0 0 10px;font-size:20px;border-bottom:2px solid #e4e8ee;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #dde2e8;padding:3px 9px}
th{background:#eef1f5;text-align:left}tbody tr:nth-child(even){background:#fafbfc}
table.num td{text-align:right}table.num td:first-child{text-align:left}
table.total tbody tr:last-child td{font-weight:600}
.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:0 22px;font-size:12.5px;
font-family:ui-monospace,Menlo,Consolas,monospace}.kv div{display:flex;gap:10px;border-bottom:1px solid #eef1f5;
padding:2px 0}.kv .k{color:#5a6678;flex:0 0 170px;overflow-wrap:anywhere}.kv .v{overflow-wrap:anywhere}
figure{margin:8px 0}img{max-width:100%;height:auto;display:block}figcaption{font-size:12.5px;color:#4a5568}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{flex:1 1 200px;border:1px solid #dde2e8;border-radius:6px;
padding:10px 14px;background:#fbfcfd}.card .label{font-size:12px;text-transform:uppercase;color:#5a6678;
letter-spacing:.04em}.card .value{font-size:26px;font-weight:700;margin:2px 0}.card .note{font-size:12px;color:#4a5568}
.pair{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}.pair>*{flex:1 1 520px;min-width:0}
.well{border-top:1px solid #e4e8ee;padding-top:6px}.facts{font-size:13px;color:#3a4658}
.missing{color:#6b7280;font-style:italic}.tp{color:#1a9e33;font-weight:600}.fp{color:#e01f1a;font-weight:600}
.fn{color:#1f59f2;font-weight:600}footer{font-size:12px;color:#6b7280;text-align:center;margin:20px}
"""


def render(title: str, subtitle: Sequence[str], sections: Sequence[Section], footer: str) -> str:
    """The whole HTML document."""
    nav = "".join(f'<a href="#{_esc(s.id)}">{_esc(s.title)}</a>' for s in sections)
    lines = "".join(f"<p>{_esc(line)}</p>" for line in subtitle)
    body = "\n".join(s.html() for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n<body><header><h1>{_esc(title)}</h1>{lines}"
            f"<nav>{nav}</nav></header><main>\n{body}\n</main><footer>{_esc(footer)}</footer></body></html>\n")


def _guarded(name: str, title: str, build: Callable[[], Section]) -> Section:
    """A section, or the one line that says which input it lacks."""
    try:
        return build()
    except (_Missing, CorrosegInputError) as exc:
        return Section(name, title, _missing(str(exc)))
