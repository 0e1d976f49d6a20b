"""Errors a user can cause, reported as one line naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class CorrosegInputError(ValueError):
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
