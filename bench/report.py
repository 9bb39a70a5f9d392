"""Figures, and the JSON and Markdown reports made from them.

A figure is one number of ours (one value per round) beside one baseline's
(same rounds, measured in the same run). The ratio is ours/baseline per
round; the report shows medians over the rounds and the spread (min-max).
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bench.stats import median

Status = Literal["measured", "unavailable", "pending", "not yet measured", "failed"]
COLUMNS = ("scenario", "figure", "ours", "baseline", "ratio", "target", "spread")


@dataclass
class Series:
    """One side's values of one figure, one per round; or why there are none."""

    label: str
    values: list[float] = field(default_factory=list)
    unavailable: str | None = None

    @property
    def median(self) -> float | None:
        return median(self.values) if self.values else None


@dataclass
class Figure:
    """One row of the report.

    Args:
        scenario: Scenario name (registry key).
        name: What is measured, e.g. "Run p50, 1 client".
        unit: "ms", "req/s", "updates/s".
        ours: Our values per round.
        baseline: The baseline's values per round (None: nothing to compare with).
        target: The target for the ratio (or the value), as text; "—" when none.
        status: "measured", or why there is no number.
        note: Why, or how to read it.
    """

    scenario: str
    name: str
    unit: str
    ours: Series
    baseline: Series | None = None
    target: str = "—"
    status: Status = "measured"
    note: str = ""

    def ratios(self) -> list[float]:
        """ours/baseline, paired by round (both sides measured in the same round)."""
        if self.baseline is None or not self.baseline.values:
            return []
        return [o / b for o, b in zip(self.ours.values, self.baseline.values) if b]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ours"]["median"] = self.ours.median
        if self.baseline is not None:
            data["baseline"]["median"] = self.baseline.median
        ratios = self.ratios()
        data["ratio"] = {"median": median(ratios), "min": min(ratios), "max": max(ratios)} if ratios else None
        return data


def not_measured(scenario: str, name: str, status: Status, reason: str, target: str = "—") -> Figure:
    """A row that says plainly that there is no number, and why."""
    return Figure(scenario, name, "", Series("motion-grpc"), None, target, status, reason)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    digits = 3 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    return f"{value:,.{digits}f} {unit}".strip()


def _baseline_cell(figure: Figure) -> str:
    base = figure.baseline
    if base is None:
        return "—"
    if not base.values:
        return f"{base.label}: unavailable ({base.unavailable or 'no rounds measured'})"
    return f"{_number(base.median, figure.unit)} ({base.label})"


def _ours_cell(figure: Figure) -> str:
    if figure.status != "measured":
        return f"{figure.status}: {figure.note}" if figure.note else figure.status
    return _number(figure.ours.median, figure.unit)


def _spread_cell(figure: Figure) -> str:
    parts = []
    if figure.ours.values:
        parts.append(
            f"{_number(min(figure.ours.values), '')}-{_number(max(figure.ours.values), figure.unit)}"
        )
    ratios = figure.ratios()
    if ratios:
        parts.append(f"ratio {min(ratios):.2f}-{max(ratios):.2f}x")
    return "; ".join(parts) or "—"


def row(figure: Figure) -> tuple[str, ...]:
    ratios = figure.ratios()
    ratio = f"{median(ratios):.2f}x" if ratios else "—"
    return (
        figure.scenario,
        figure.name,
        _ours_cell(figure),
        _baseline_cell(figure),
        ratio,
        figure.target,
        _spread_cell(figure),
    )


def markdown(figures: list[Figure], header: str) -> str:
    lines = [header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for figure in figures:
        cells = (cell.replace("|", "\\|") for cell in row(figure))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- **{f.scenario} / {f.name}**: {f.note}" for f in figures if f.note and f.status == "measured"]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def write(directory: pathlib.Path, figures: list[Figure], meta: dict[str, Any], header: str) -> str:
    """Write latest.json and latest.md under `directory`; returns the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "figures": [figure.to_json() for figure in figures]}
    (directory / "latest.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    text = markdown(figures, header)
    (directory / "latest.md").write_text(text)
    return text
