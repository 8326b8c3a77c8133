"""Campaign reports as JUnit XML (what Jenkins, GitLab, GitHub Actions and Surefire render).

One ``<testsuite>`` per campaign, one ``<testcase>`` per model (``classname`` ``wlbridge.check``,
``name`` the model file): a ``<failure>`` when its check failed or timed out, an ``<error>`` when
the model could not be checked (read error), and the whole report as ``<system-out>``.

>>> from wlbridge.check.report import CheckReport
>>> text = junit_xml([CheckReport("m", model="m.onnx", error=("FormatError", "m.onnx: empty"))], seconds=0.5)
>>> print(text.splitlines()[1])
<testsuites name="wlbridge check" tests="1" failures="0" errors="1" time="0.500">
"""
from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET

from .report import CheckReport

SUITE = "wlbridge check"


def junit_xml(reports: list[CheckReport], *, seconds: float = 0.0, name: str = SUITE) -> str:
    """The JUnit XML text of a campaign's reports."""
    failures = sum(r.error is None and not r.passed for r in reports)
    errors = sum(r.error is not None for r in reports)
    counts = dict(tests=str(len(reports)), failures=str(failures), errors=str(errors), time=f"{seconds:.3f}")
    root = ET.Element("testsuites", name=name, **counts)
    suite = ET.SubElement(root, "testsuite", name=name, skipped="0", **counts,
                          timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"), hostname=socket.gethostname())
    for r in reports:
        took = sum(row.seconds for row in r.rows)
        case = ET.SubElement(suite, "testcase", classname="wlbridge.check", name=r.model or r.net, time=f"{took:.3f}")
        if r.error is not None:
            ET.SubElement(case, "error", type=r.error[0], message=_clean(r.error[1])).text = _clean(r.error[1])
            continue
        if not r.passed:
            why = "; ".join(f"{row.evaluator}: {row.status}" for row in r.failures) or r.verdict
            if r.divergence is not None:
                why += f"; first diverging layer in {r.divergence.evaluator}: {r.divergence.where()}"
            ET.SubElement(case, "failure", type=r.verdict.split(" (")[0], message=_clean(why)).text = _clean(str(r))
        ET.SubElement(case, "system-out").text = _clean(str(r))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str, reports: list[CheckReport], *, seconds: float = 0.0) -> None:
    """Write :func:`junit_xml` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(junit_xml(reports, seconds=seconds))


def _clean(text: str) -> str:
    """XML 1.0 has no control characters but tab and newline: the rest shown as escapes."""
    return "".join(c if c in "\t\n" or ord(c) >= 32 else repr(c)[1:-1] for c in text)
