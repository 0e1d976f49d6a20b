"""What every command shares: the app, its consoles, one-line errors, interrupts, common options and formats."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import threading
import warnings
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape
from typer.core import TyperGroup

from corroseg.errors import CorrosegUserError, interrupt_behind

try:  # typer vendors click since 0.2x; older versions use click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError

class SafeConsole(Console):
    """A console that prints text whose markup does not parse (a path holding '[/]') as plain text."""

    def render_str(self, text, **options):
        try:
            return super().render_str(text, **options)
        except MarkupError:
            return super().render_str(text, **{**options, "markup": False})


console = SafeConsole(soft_wrap=True)  # a line is never broken by rich: logs and pipes keep it whole
err_console = SafeConsole(stderr=True, soft_wrap=True)


class _Lines:
    """What ``status`` gives when stderr is not a terminal: each message on its own line (a log shows progress).

    The first message waits a second: a command refused at once prints its one error line only.
    """

    def __init__(self, message: str):
        self._first = threading.Timer(1.0, self.update, (message,))
        self._first.daemon = True

    def __enter__(self):
        self._first.start()
        return self

    def __exit__(self, *exc) -> None:
        self._first.cancel()

    def update(self, message: str) -> None:
        self._first.cancel()
        err_console.print(escape(message), highlight=False)


def status(message: str):
    """A spinner with ``message`` on a terminal, one line per message elsewhere; ``.update(text)`` changes it."""
    return err_console.status(escape(message)) if err_console.is_terminal else _Lines(message)


def print_error(text: str) -> None:
    """``error: TEXT`` on stderr as one line: no markup, no line breaks, never wrapped."""
    err_console.print(f"[red]error:[/] {escape(' '.join(str(text).splitlines()))}", highlight=False,
                      soft_wrap=True, emoji=False)


@contextlib.contextmanager
def _one_line_usage_errors():
    """A bad option value or a missing argument prints one line too (exit code 2), not a usage box."""
    try:
        yield
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command: its help is the answer
            raise
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        print_error(exc.format_message() + hint)
        raise typer.Exit(exc.exit_code) from None


class OneLineErrors(TyperGroup):
    """The command group: usage errors as one line, like every other error a user can cause."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _one_line_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=OneLineErrors,
    help="Find corrosion in ultrasonic wall-thickness images of well casings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from corroseg import __version__

        print(f"corroseg {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print corroseg's version and exit.")] = None):
    """Find corrosion in ultrasonic wall-thickness images of well casings."""


def _terminated(signum, frame):
    raise KeyboardInterrupt("terminated (SIGTERM)")


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler or ``kill``) stops a command as Ctrl-C does: cleanly, with a message."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say_interrupted(exc: KeyboardInterrupt) -> None:
    hint = f": {exc}" if str(exc) else ""
    # Off a terminal a progress bar stopped mid-render leaves its line open: start the message on a line of its own
    # (it is what scripts and logs grep for), at the cost of an empty line when the bar had ended its own.
    fresh_line = "" if err_console.is_terminal else "\n"
    err_console.print(f"{fresh_line}[red]interrupted[/]{escape(hint)}", highlight=False, soft_wrap=True, emoji=False)


def user_errors(command):
    """Print user-caused errors as one line and exit with code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(), _sigterm_as_interrupt():
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *a, **k: err_console.print(
                f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True, emoji=False
            )
            try:
                return command(*args, **kwargs)
            except CorrosegUserError as exc:
                print_error(str(exc))
                raise typer.Exit(2) from None
            except OSError as exc:  # permissions, full disk, a file where a folder should be
                where = exc.filename or "corroseg"
                print_error(f"{where}: {exc.strerror or exc}")
                raise typer.Exit(2) from None
            except KeyboardInterrupt as exc:  # outputs are atomic: nothing half-written is left
                _say_interrupted(exc)
                raise typer.Exit(130) from None
            except Exception as exc:  # noqa: BLE001 - an interrupt inside an import surfaces as ImportError
                interrupt = interrupt_behind(exc)
                if interrupt is None:
                    raise
                _say_interrupted(interrupt)
                raise typer.Exit(130) from None

    return wrapper


def list_items(values: list[str] | str | None) -> list[str]:
    """The items of a list option, written once for every command: repeated (``--x 9 --x 10``),
    comma-separated (``--x 9,10``) or both."""
    if values is None:
        return []
    values = [values] if isinstance(values, str) else values
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_wells(values: list[str] | str | None, option: str) -> list[int] | None:
    """Well numbers of a list option (see :func:`list_items`); None when not given."""
    items = list_items(values)
    if not items:
        return None
    try:
        return [int(item) for item in items]
    except ValueError:
        raise typer.BadParameter(f"{','.join(items)!r}: expected well numbers such as 9,10",
                                 param_hint=option) from None


def parse_widths(values: list[str] | None) -> dict[int | None, int] | None:
    """``["72"]`` -> all wells 72 px; ``["3=36", "5=72"]`` or ``["3=36,5=72"]`` -> per well."""
    if not values:
        return None
    widths: dict[int | None, int] = {}
    for value in list_items(values):
        well, _, width = value.rpartition("=")
        try:
            key = int(well) if well else None
            widths[key] = int(width)
        except ValueError:
            raise typer.BadParameter(f"{value!r}: expected WIDTH or WELL=WIDTH", param_hint="--width") from None
        if widths[key] not in (36, 72):
            raise typer.BadParameter(f"{value!r}: width must be 36 or 72", param_hint="--width")
    return widths


WidthOption = Annotated[
    Optional[list[str]],
    typer.Option("--width", help="Override inferred well width: 72 (all wells) or WELL=WIDTH, e.g. 3=36,5=72 "
                 "(comma-separated or repeated)."),
]


OverridesArgument = Annotated[
    Optional[list[str]],
    typer.Argument(help="Config overrides key=value, e.g. max_epochs=5 model_options.channels=[8,16,32,48].",
                   show_default=False),
]


def check_split(split: str) -> None:
    from corroseg.data.challenge import SPLITS

    if split not in SPLITS:
        raise typer.BadParameter(f"{split!r}: expected {' or '.join(SPLITS)}", param_hint="--split")


def fmt(value, spec: str = ".4f") -> str:
    """A figure for people: ``n/a`` where there is none (None or NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return format(value, spec)


def print_json(data) -> None:
    """Strict JSON on stdout: NaN (a figure that does not exist) becomes null."""
    from corroseg.atomic import json_safe

    print(json.dumps(json_safe(data), indent=2, allow_nan=False))
