"""Progress of a running ``check`` on stderr: a tqdm bar over the estimated seconds, rows as they end.

Shown when ``progress=True``, or with ``progress=None`` (auto) when stderr is a terminal and the
slowest evaluator is estimated at a few seconds or more; never when tqdm is not installed
(``pip install 'wlbridge[progress]'``). The estimate is the slowest running evaluator's (they run
concurrently), from the engines' cost models. Rows printed by ``on_row`` while the bar is up go
through :meth:`Progress.write`, which clears the bar first, so the two never share a line.

When stderr is not a terminal (CI logs) and ``progress=None``, there is no bar but a heartbeat
line every :data:`HEARTBEAT_S` seconds: ``check: 20 s, 2/4 rows done; running: mathics``.

>>> p = Progress({"woxi": 1.0}, enabled=False)
>>> p.row_done("woxi"); p.close()
"""
from __future__ import annotations

import sys
import time

HEARTBEAT_S = 10.0  # seconds between heartbeat lines off a terminal
AUTO_MIN_SECONDS = 3.0  # auto mode stays quiet for checks estimated shorter than this
WOXI_S_PER_CHAR = 3.5e-6  # Woxi 0.3 parses ~65 us per number, ~18 characters each


def woxi_seconds(code_chars: int, samples: int, input_size: int, files: bool = False) -> float:
    """Woxi's time for a check: parsing the code and the inputs (its floor), roughly; ``files``: the
    code's arrays are read from files (~100x faster than parsing them)."""
    return WOXI_S_PER_CHAR * (code_chars / (100 if files else 1) + 20 * samples * input_size)


def wanted(progress: bool | None, estimate: float) -> bool:
    """Whether to show progress: explicit, or auto (a terminal and a long enough check)."""
    if progress is not None:
        return bool(progress)
    return _tty() and estimate >= AUTO_MIN_SECONDS


def heartbeat_wanted(progress: bool | None) -> bool:
    """Auto mode off a terminal: heartbeat lines instead of a bar."""
    return progress is None and not _tty()


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """A bar whose total is the estimated seconds; its description lists the evaluators still running."""

    def __init__(self, estimates: dict[str, float], enabled: bool = True, limit: float | None = None,
                 heartbeat: bool = False):
        self.running = dict(estimates)
        self.total = len(estimates)
        self.start = self.beat = time.monotonic()
        self.heartbeat = heartbeat and bool(estimates)
        self.bar = None
        if not enabled or not estimates:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        seconds = max(estimates.values())
        if limit is not None:
            seconds = min(seconds, limit)
        self.bar = tqdm(total=max(1, round(seconds)), unit="s", file=sys.stderr, leave=False, dynamic_ncols=True,
                        bar_format="{desc} {bar} {elapsed} / ~{total}s est.", desc=self._text())

    def _text(self) -> str:
        done = self.total - len(self.running)
        return f"check: {done}/{self.total} done; running: {', '.join(self.running) or '-'}"

    def _describe(self):
        self.bar.set_description_str(self._text(), refresh=False)

    def write(self, fn) -> None:
        """Call ``fn()`` (which prints a row) with the bar cleared, then redraw the bar."""
        if self.bar is None:
            fn()
            return
        with self.bar.external_write_mode(file=sys.stderr):
            fn()

    def tick(self) -> None:
        """Move the bar to the elapsed time (kept just short of the total until the end); off a
        terminal, print a heartbeat line every :data:`HEARTBEAT_S` seconds."""
        now = time.monotonic()
        if self.heartbeat and self.running and now - self.beat >= HEARTBEAT_S:
            self.beat = now
            print(f"check: {now - self.start:.0f} s, {self._text().removeprefix('check: ')}", file=sys.stderr,
                  flush=True)
        if self.bar is None:
            return
        elapsed = time.monotonic() - self.start
        n = min(int(elapsed), max(self.bar.total - 1, 0))
        if elapsed > self.bar.total:  # over the estimate: stretch it
            self.bar.total = int(elapsed * 1.25) + 1
        self.bar.n = n
        self.bar.refresh()

    def row_done(self, name: str) -> None:
        """Mark one evaluator finished."""
        self.running.pop(name, None)
        if self.bar is not None:
            self._describe()
            self.tick()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
