"""Rewind: the window by default (``main.py [LOG]``), headless commands otherwise.

See ``main.py --help`` and README.md.
"""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
