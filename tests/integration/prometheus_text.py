"""The Prometheus text exposition format 0.0.4, parsed strictly (for the tests that read the
diagnostics listener's /metrics)."""
import math
import re

import requests

# The text exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats/),
# line by line.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN)"
HELP_RE = re.compile(rf"# HELP ({NAME}) ((?:[^\\\n]|\\[\\n])*)")
TYPE_RE = re.compile(rf"# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)")
SAMPLE_RE = re.compile(rf"({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?,?\}})? ({VALUE})(?: -?[0-9]+)?")
LABEL_RE = re.compile(rf'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse_exposition(text):
    """Parses `text` strictly; returns {family: {"type", "help", "samples": [(name, labels, value)]}}.
    Fails on any line the format does not allow, a sample before its family's TYPE, a family
    declared twice or split, a duplicated series, a counter not named *_total or negative, and a
    histogram without its +Inf bucket, _sum and _count."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    families, current, series = {}, None, set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}: {line!r}"
        if m := HELP_RE.fullmatch(line):
            name = m.group(1)
            assert name not in families or families[name]["help"] is None, "HELP twice, " + where
            families.setdefault(name, {"type": None, "help": None, "samples": []})["help"] = m.group(2)
            assert m.group(2).strip(), "an empty HELP, " + where
            current = name
        elif m := TYPE_RE.fullmatch(line):
            name = m.group(1)
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            assert fam["type"] is None and not fam["samples"], "TYPE twice or after samples, " + where
            fam["type"] = m.group(2)
            current = name
        elif line.startswith("#"):
            continue  # other comments are allowed
        else:
            m = SAMPLE_RE.fullmatch(line)
            assert m, "not a sample line, " + where
            name, label_text, value = m.group(1), m.group(2) or "", m.group(3)
            labels = {}
            for k, v in LABEL_RE.findall(label_text):
                assert k not in labels, "a label twice, " + where
                labels[k] = unescape(v)
            assert current is not None, "a sample before any TYPE, " + where
            fam = families[current]
            suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
            allowed = [current + s for s in suffixes.get(fam["type"], ("",))]
            assert fam["type"] and name in allowed, f"a sample outside its family ({current}), " + where
            key = (name, tuple(sorted(labels.items())))
            assert key not in series, "a series twice, " + where
            series.add(key)
            v = float(value)
            if fam["type"] == "counter":
                assert current.endswith("_total") and v >= 0 and not math.isnan(v), where
            fam["samples"].append((name, labels, v))
    for name, fam in families.items():
        assert fam["type"] and fam["help"] is not None, f"{name}: HELP and TYPE"
        if fam["type"] == "histogram":
            names = {s[0] for s in fam["samples"]}
            assert {name + "_sum", name + "_count"} <= names, name
            assert any(s[1].get("le") == "+Inf" for s in fam["samples"]), name
    return families


def value(families, name, **labels):
    for fam in families.values():
        for n, ls, v in fam["samples"]:
            if n == name and all(ls.get(k) == want for k, want in labels.items()):
                return v
    return None


def scrape(stack):
    """The gateway's /metrics from its diagnostics listener, parsed."""
    r = requests.get(stack.diag_url + "/metrics", timeout=15)
    assert r.status_code == 200, r.status_code
    return parse_exposition(r.text)

