#!/usr/bin/env python3
"""Checks that docs/error-codes.md and the code agree: every error code defined in
src/*/errors.{h,cpp} is documented (name and number), and every code the tables document exists.
Exits 1 on any difference."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
doc = (ROOT / "docs" / "error-codes.md").read_text()
missing = []
for errors_cpp in sorted((ROOT / "src").glob("*/errors.cpp")):
    header = (errors_cpp.parent / "errors.h").read_text()
    numbers = dict(re.findall(r"(k\w+)\s*=\s*(\d+)", header))
    pairs = re.findall(r"case Code::(k\w+):\s*return \"([^\"]+)\";", errors_cpp.read_text())
    if len(pairs) != len(numbers):
        missing.append(f"{errors_cpp.relative_to(ROOT)}: {len(pairs)} names for {len(numbers)} codes (parse the file?)")
    for enum, name in pairs:
        number = numbers.get(enum)
        if f"`{name}`" not in doc or (number and number not in doc):
            missing.append(f"{name} ({number}) from {errors_cpp.relative_to(ROOT)}")
defined = set()
for errors_h in (ROOT / "src").glob("*/errors.h"):
    defined.update(re.findall(r"=\s*(\d+),", errors_h.read_text()))
stale = sorted(set(re.findall(r"^\| (\d{4}) \|", doc, re.M)) - defined)
for m in missing:
    print("not documented in docs/error-codes.md:", m)
for n in stale:
    print("documented but not defined in src/*/errors.h:", n)
print(f"error codes: {len(missing)} undocumented, {len(stale)} stale")
sys.exit(1 if missing or stale else 0)
