"""Fixtures for gateway tests: the quick start's demo stack (examples/quickstart/demo_stack.py)
with a real pysaml2 IdP, the echo upstream and the claimgate binary under test."""
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "quickstart"))

from demo_stack import DemoStack, free_port, parse_form, wait_http  # noqa: E402,F401


def rss_kib(pid):
    """Resident memory of a process, KiB (VmRSS)."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def request_ids(text):
    return set(re.findall(r"\b[0-9a-f]{16}\b", text))
