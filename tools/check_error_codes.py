#!/usr/bin/env python3
"""Checks that docs/error-codes.md lists every user-visible error code defined in src/*/errors.cpp
(number and name), so the documented contract cannot drift from the code. Exits 1 on a gap."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
doc = (ROOT / "docs" / "error-codes.md").read_text()
missing = []
for errors_cpp in sorted((ROOT / "src").glob("*/errors.cpp")):
    header = (errors_cpp.parent / "errors.h").read_text()
    numbers = dict(re.findall(r"(k\w+)\s*=\s*(\d+)", header))
    for enum, name in re.findall(r"case Code::(k\w+): return \"([^\"]+)\";", errors_cpp.read_text()):
        number = numbers.get(enum)
        if f"`{name}`" not in doc or (number and number not in doc):
            missing.append(f"{name} ({number}) from {errors_cpp.relative_to(ROOT)}")
for m in missing:
    print("not documented in docs/error-codes.md:", m)
print(f"error codes: {len(missing)} undocumented")
sys.exit(1 if missing else 0)
