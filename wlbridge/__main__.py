"""``python -m wlbridge``: the same as the ``wlbridge`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
