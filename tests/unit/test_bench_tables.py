"""The benchmark tables are written from tests/bench/results.json: an edit by hand, or a part run without
its rows saved, shows here."""

from __future__ import annotations

import json

from tests.bench.rows import RESULTS, SAVED, TABLE, table
from tests.bench.suite import PARTS, saved_rows


def test_the_benchmark_tables_are_the_saved_rows_of_every_part() -> None:
    saved = json.loads(SAVED.read_text())
    assert set(saved) == set(PARTS)
    body = table(saved_rows(saved))
    assert body in RESULTS.read_text()
    assert body in TABLE.read_text()
