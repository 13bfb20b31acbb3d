#!/usr/bin/env python3
"""Checks the project's dependency rules (STYLE.md) on src/:
- parts include only the parts they may depend on: core <- crypto <- xml <- saml; core <- session,
  http, policy; core <- storage <- session, jobs, audit; gateway wires them; nothing depends on
  gateway or cli;
- only src/xml and src/crypto include libxml2, xmlsec1 and OpenSSL headers;
- nothing but src/core/clock.cpp reads system_clock::now (time is injected).
Exits 1 and lists every violation."""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
ALLOWED = {
    "core": {"core"},
    "crypto": {"core", "crypto"},
    "xml": {"core", "crypto", "xml"},
    "saml": {"core", "crypto", "xml", "saml"},
    "storage": {"core", "storage"},
    "session": {"core", "crypto", "storage", "session"},
    "http": {"core", "http"},
    "policy": {"core", "session", "policy"},
    "audit": {"core", "crypto", "storage", "audit"},
    "jobs": {"core", "crypto", "storage", "session", "http", "audit", "jobs"},
    "gateway": {"core", "crypto", "xml", "saml", "storage", "session", "http", "policy", "audit", "jobs", "gateway"},
    "cli": {"core", "crypto", "xml", "saml", "storage", "session", "http", "policy", "audit", "jobs", "gateway", "cli"},
}
LOW_LEVEL = re.compile(r'#include\s*<(libxml/|xmlsec/|openssl/)')
PROJECT = re.compile(r'#include\s*"([a-z_]+)/')

problems = []
for path in sorted(SRC.rglob("*")):
    if path.suffix not in (".h", ".cpp"):
        continue
    part = path.relative_to(SRC).parts[0]
    text = path.read_text()
    for n, line in enumerate(text.splitlines(), 1):
        m = PROJECT.search(line)
        if m and m.group(1) not in ALLOWED.get(part, set()):
            problems.append(f"{path.relative_to(SRC.parent)}:{n}: {part} may not include {m.group(1)}/ ({line.strip()})")
        if LOW_LEVEL.search(line) and part not in ("xml", "crypto"):
            problems.append(f"{path.relative_to(SRC.parent)}:{n}: only src/xml and src/crypto call libxml2/xmlsec/OpenSSL")
        if "system_clock::now" in line and path.relative_to(SRC).as_posix() != "core/clock.cpp":
            problems.append(f"{path.relative_to(SRC.parent)}:{n}: read time from core::Clock, not system_clock::now")
    if part not in ALLOWED:
        problems.append(f"{path.relative_to(SRC.parent)}: part '{part}' is not in tools/check_includes.py")

for p in problems:
    print(p)
print(f"check_includes: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
