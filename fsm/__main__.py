"""``python -m fsm``."""

from fsm.cli import app

app()
