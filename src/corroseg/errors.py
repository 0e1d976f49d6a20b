"""Errors a user can cause, reported as one line naming the file (or setting) and the problem.

The CLI turns :class:`CorrosegUserError` (and its subclass :class:`CorrosegInputError`)
into one line on stderr and exit code 2. Every other exception is a bug and shows
as one, with its traceback.
"""

from __future__ import annotations

from pathlib import Path


class CorrosegUserError(ValueError):
    """A mistake the user can fix (a bad option, config key or value): printed as is."""


class CorrosegInputError(CorrosegUserError):
    """Bad input the user can fix: the CLI prints ``path: problem`` and exits with code 2.

    Parameters
    ----------
    path : str or Path
        The file or folder at fault.
    problem : str
        What is wrong with it, in a few words.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def interrupt_behind(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM (a ``KeyboardInterrupt``) that is or caused ``exc``, if any.

    An interrupt that lands inside a module import surfaces as an ``ImportError`` whose
    context is the interrupt; it is still an interrupt, not a bug.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
