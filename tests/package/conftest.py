"""Prints each function's package size at the end of the run."""

from __future__ import annotations

from typing import Any

from revoice_local.package import PackageReport

PACKAGE_SIZES: dict[str, PackageReport] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PACKAGE_SIZES:
        return
    terminalreporter.section("Lambda packages (unzipped; Lambda's limit 250 MB, our target 60 MB)")
    for logical_id, report in PACKAGE_SIZES.items():
        terminalreporter.write_line(
            f"{logical_id:<18} {report.megabytes:>6.1f} MB  {len(report.distributions)} distributions  {report.path}"
        )
