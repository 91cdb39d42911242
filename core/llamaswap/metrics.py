"""llama-swap's ``GET /metrics`` (Prometheus text format) as typed samples.

llama-swap reports host and GPU gauges there (``llamaswap_cpu_util_percent{core="0"}``,
``llamaswap_memory_used_bytes`` ...), not per-model counters. :func:`parse_prometheus` is
a pure function of the text, so it reads any exporter's text exposition format 0.0.4.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


@dataclass(frozen=True)
class MetricSample:
    """One sample line: ``name{label="value",...} value [timestamp]``.

    Attributes:
        name: the metric name, e.g. ``llamaswap_memory_used_bytes``.
        labels: label names to (unescaped) values.
        value: the value; ``nan`` and ``inf`` as floats.
        timestamp_ms: the optional timestamp in milliseconds.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    value: float = 0.0
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Metrics:
    """Every sample of one scrape, with each metric's ``# TYPE`` and ``# HELP``.

    Attributes:
        samples: the samples in the order sent.
        types: metric name to its type (``gauge``, ``counter`` ...).
        help: metric name to its help text.
        text: the text as sent.
    """

    samples: tuple[MetricSample, ...] = ()
    types: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    help: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    text: str = field(default="", repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The metric names present, in the order first seen."""
        return tuple(dict.fromkeys(s.name for s in self.samples))

    def get(self, name: str, **labels: str) -> list[MetricSample]:
        """The samples of ``name`` whose labels include every ``labels`` pair given."""
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the one sample of ``name`` matching ``labels``; ``None`` if absent.

        Raises ``ValueError`` when several samples match (name more labels to pick one).
        """
        found = self.get(name, **labels)
        if len(found) > 1:
            keys = sorted({k for s in found for k in s.labels} - set(labels))
            raise ValueError(
                f"{len(found)} samples of {name!r} match {labels or 'no labels'}; "
                f"pick one by its labels: {', '.join(keys)}"
            )
        return found[0].value if found else None


def parse_prometheus(text: str) -> Metrics:
    """Parse Prometheus text format into :class:`Metrics`.

    Raises ``ValueError`` naming the line number for a line that is not a sample, a
    comment or blank.
    """
    samples: list[MetricSample] = []
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            parts = stripped[1:].strip().split(None, 2)
            if len(parts) >= 2 and parts[0] == "TYPE":
                types[parts[1]] = parts[2].strip() if len(parts) > 2 else ""
            elif len(parts) >= 2 and parts[0] == "HELP":
                helps[parts[1]] = _unescape_help(parts[2]) if len(parts) > 2 else ""
            continue
        try:
            samples.append(_sample(stripped))
        except ValueError as exc:
            raise ValueError(
                f"line {number} is not a Prometheus sample ({exc}): {line!r}"
            ) from None
    return Metrics(
        samples=tuple(samples),
        types=MappingProxyType(types),
        help=MappingProxyType(helps),
        text=text,
    )


def _sample(line: str) -> MetricSample:
    brace = line.find("{")
    space = _first_space(line)
    if brace != -1 and (space == -1 or brace < space):
        name = line[:brace]
        labels, rest = _labels(line, brace + 1)
    else:
        if space == -1:
            raise ValueError("no value")
        name, labels, rest = line[:space], _EMPTY, line[space:]
    if not name or not _is_name(name):
        raise ValueError(f"bad metric name {name!r}")
    fields = rest.split()
    if not fields or len(fields) > 2:
        raise ValueError("expected a value and an optional timestamp")
    value = _float(fields[0])
    timestamp = int(fields[1]) if len(fields) == 2 else None
    return MetricSample(name=name, labels=labels, value=value, timestamp_ms=timestamp)


def _labels(line: str, pos: int) -> tuple[Mapping[str, str], str]:
    labels: dict[str, str] = {}
    while True:
        while pos < len(line) and line[pos] in " \t,":
            pos += 1
        if pos >= len(line):
            raise ValueError("unclosed '{'")
        if line[pos] == "}":
            return MappingProxyType(labels), line[pos + 1 :]
        eq = line.find("=", pos)
        if eq == -1:
            raise ValueError("label without '='")
        key = line[pos:eq].strip()
        if not _is_name(key) or eq + 1 >= len(line) or line[eq + 1] != '"':
            raise ValueError(f"bad label {key!r}")
        value, pos = _quoted(line, eq + 2)
        labels[key] = value


def _quoted(line: str, pos: int) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(line):
        char = line[pos]
        if char == "\\" and pos + 1 < len(line):
            nxt = line[pos + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    raise ValueError("unclosed label value")


def _unescape_help(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\\\", "\\")


def _first_space(line: str) -> int:
    positions = [p for p in (line.find(" "), line.find("\t")) if p != -1]
    return min(positions) if positions else -1


def _is_name(name: str) -> bool:
    return (name[0].isalpha() or name[0] in "_:") and all(c.isalnum() or c in "_:" for c in name)


def _float(text: str) -> float:
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    return float(text)
