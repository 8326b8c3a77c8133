"""The motivating example (``make demo``): the code lives in ``wlbridge/demo.py``, so an installed
package runs it too: ``python -m wlbridge.demo``.

Run: ``python examples/seed_net.py``
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's wlbridge

from wlbridge.demo import INPUTS, TARGETS, main, train_seed_net  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
