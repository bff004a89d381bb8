"""Tables printed at the end of a run (the fault matrix, the package sizes), from rows the tests record
on their own reports: under pytest-xdist a test runs in a worker process, and only what its reports
carry reaches the process that prints the summary."""

from __future__ import annotations

from typing import Any, cast

import pytest

SUMMARY_ROW = "summary-row"


def record(request: pytest.FixtureRequest, table: str, row: dict[str, Any]) -> None:
    """Add ``row`` (column name to value, in the order the columns are printed) to ``table``."""
    request.node.user_properties.append((SUMMARY_ROW, (table, row)))


class SummaryTables:
    """The rows the run's reports carried, by table, one per test, in the order they arrived."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}

    def collect(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == SUMMARY_ROW:
                table, row = cast("tuple[str, dict[str, Any]]", value)
                self.tables.setdefault(table, {})[report.nodeid] = row

    def lines(self, table: str) -> list[str]:
        rows = list(self.tables[table].values())
        columns = list(rows[0])
        cells = [columns, *([str(row[column]) for column in columns] for row in rows)]
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        figures = [all(_is_figure(line[i]) for line in cells[1:]) for i in range(len(columns))]
        cells.insert(1, ["-" * width for width in widths])
        return ["| " + " | ".join(_aligned(line, widths, figures)) + " |" for line in cells]


def _is_figure(cell: str) -> bool:
    return cell.replace(".", "", 1).isdigit()


def _aligned(line: list[str], widths: list[int], figures: list[bool]) -> list[str]:
    """Figures to the right, names to the left."""
    return [
        cell.rjust(width) if figure else cell.ljust(width)
        for cell, width, figure in zip(line, widths, figures, strict=True)
    ]
