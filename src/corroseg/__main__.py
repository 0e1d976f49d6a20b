"""``python -m corroseg``: the command line, as the ``corroseg`` script runs it."""

from corroseg.cli import app

app(prog_name="corroseg")
