"""Rewind: the window by default (``main.py [LOG]``), headless commands otherwise.

See ``main.py --help`` and README.md.
"""

import sys

from models.memory import tune_allocator

tune_allocator()  # before the first big allocation: see models/memory.py

from app.cli import main  # noqa: E402


def run_window(argv: list[str]) -> int:
    from views.gui import run_gui  # Qt is imported only when the window is wanted

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], gui=run_window))
