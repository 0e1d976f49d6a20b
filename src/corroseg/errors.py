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
