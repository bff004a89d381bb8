"""``revoice local`` and ``revoice voices`` as a user runs them: real processes, real output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import revoice


def test_voices_list_shows_built_ins_and_says_whose_they_are(local_stack: Path) -> None:
    done = revoice("voices", "list", state=local_stack)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["ID", "NAME", "KIND", "HELD", "BY", "IDLE", "(h)"]
    assert "builtin-rachel" in done.stdout
    rows = json.loads(revoice("voices", "list", "--json", state=local_stack).stdout)
    kinds = {row["kind"] for row in rows}
    assert "built-in" in kinds
    assert kinds <= {"built-in", "revoice", "revoice (ephemeral)", "revoice (unrecorded)", "not revoice's"}


def test_voices_cleanup_dry_run_reports_and_changes_nothing(local_stack: Path) -> None:
    done = revoice("voices", "cleanup", "--dry-run", state=local_stack)
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing was changed" in done.stdout
    report = json.loads(revoice("voices", "cleanup", "--dry-run", "--json", state=local_stack).stdout)
    assert report["dry_run"] is True
    assert report["counts"]["deleted"] == 0


def test_without_a_local_stack_the_error_says_what_to_do(tmp_path: Path) -> None:
    done = revoice("voices", "list", state=tmp_path / "none.json")
    assert done.returncode == 1
    assert done.stderr.startswith("revoice: no local stack is running")
    assert "revoice local" in done.stderr
    assert "Traceback" not in done.stderr
