"""The report's HTML pieces: escaping, number formats, tables, embedded PNGs, sections and the page."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from corroseg.errors import CorrosegInputError
from corroseg.report.strips import FALSE_NEGATIVE, FALSE_POSITIVE, OUTCOME_COLOURS, TRUE_POSITIVE


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
    cells = "".join(f'<div><span class="k">{_esc(k)}</span><span class="v">{_esc(_readable(k, v))}</span></div>'
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


def _unit(name: str) -> str:
    """The unit of a config or run-file number, from its key (``""`` for counts and ratios)."""
    if "seconds" in name or name in ("max_time", "max_cpu_time"):
        return " s"
    if name.endswith("_per_s"):
        return f" {name.removesuffix('_per_s').rpartition('_')[2]}/s"
    if name == "widths" or name.endswith("_pixels"):
        return " px"
    if name.endswith("_rows") or name.endswith("_overlap"):
        return " rows"
    return ""


def _number(name: str, value) -> str:
    text = f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else _fmt(value, ".4g")
    return text + _unit(name)


def _value_order(item) -> tuple:
    """Sort key of (value, wells) groups: numbers in order, then anything else by its text."""
    value = item[0]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return (0, value, "") if number else (1, 0, str(value))


def _readable(key: str, value) -> str:
    """A config value in words: lists as ``1, 2, 3``, well -> value maps grouped by value, no JSON.

    ``{"1": 72, "2": 36, "3": 36}`` under ``widths`` reads ``36 px: wells 2, 3; 72 px: wells 1``;
    a list of lists under ``assignment`` reads ``fold 0: wells 1, 2; fold 1: wells 3``.
    """
    name = str(key).rpartition(".")[2]
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list) and not value:
        return "none"
    if isinstance(value, dict):
        if all(str(k).isdigit() for k in value) and not any(isinstance(v, dict | list) for v in value.values()):
            groups: dict = {}
            for well, v in value.items():
                groups.setdefault(v, []).append(int(well))
            return "; ".join(f"{_readable(name, v)}: wells {', '.join(map(str, sorted(wells)))}"
                             for v, wells in sorted(groups.items(), key=_value_order))
        return "; ".join(f"{k}: {_readable(k, v)}" for k, v in value.items())
    if isinstance(value, list):
        if all(isinstance(v, list) for v in value):
            if name == "assignment":  # folds.json: the wells of each fold
                return "; ".join(f"fold {i}: wells {_readable('wells', v)}" for i, v in enumerate(value))
            return "; ".join(f"{i}: {_readable(name, v)}" for i, v in enumerate(value))
        if "wells" in name and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            value = sorted(value)  # wells in order; other lists (e.g. channels) as written
        return ", ".join(_readable(name, v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(name, value)
    return str(value)


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(255 * float(c)):02x}" for c in rgb[:3])


def _outcome_css() -> str:
    """Legend words of the mask outcomes, each after a swatch of the very colour the figures use."""
    rules = []
    for css, category in (("tp", TRUE_POSITIVE), ("fp", FALSE_POSITIVE), ("fn", FALSE_NEGATIVE)):
        rules.append(f'.{css}{{font-weight:600}}.{css}::before{{content:"";display:inline-block;width:.8em;'
                     f"height:.8em;margin-right:.25em;vertical-align:-.08em;border:1px solid #666;"
                     f"background:{_hex(OUTCOME_COLOURS[category])}}}")
    return "\n".join(rules) + "\n"


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
.missing{color:#6b7280;font-style:italic}footer{font-size:12px;color:#6b7280;text-align:center;margin:20px}
.warning{background:#fff4e0;border:1px solid #e8a33a;border-left:6px solid #c96a00;border-radius:4px;padding:8px 12px;
margin:0 0 12px;font-weight:600;color:#6b3500}
""" + _outcome_css()


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
