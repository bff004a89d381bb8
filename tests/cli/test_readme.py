"""The README and docs/ cannot drift from the code: diagram, commands, make targets, error codes, links."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from revoice.pipeline.failure import LAMBDA_FAILURES
from revoice_local.cli import _parser
from revoice_local.diagram import ASL, readme_block, render

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))}
EVERYTHING = "\n".join([README, *DOCS.values()])


def _code_lines(text: str) -> list[str]:
    """Shell lines of the README's sh/bash code blocks, continuations joined, comments dropped."""
    lines: list[str] = []
    language: str | None = None
    for line in text.splitlines():
        if line.startswith("```"):
            language = None if language is not None else (line[3:].strip() or "text")
            continue
        if language in ("sh", "bash"):
            lines.append(line)
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


REVOICE_LINES = [line for line in _code_lines(EVERYTHING) if line.startswith("revoice ")]


def test_the_state_machine_diagram_is_generated_from_the_asl() -> None:
    assert readme_block(DOCS["state-machine.md"]) == render(json.loads(ASL.read_text()))


def test_the_readme_shows_revoice_commands() -> None:
    assert len(REVOICE_LINES) >= 8


@pytest.mark.parametrize("line", REVOICE_LINES)
def test_every_revoice_command_in_the_readme_is_one_the_cli_accepts(line: str) -> None:
    words = [w for w in shlex.split(line)[1:] if w != "&"]
    _parser().parse_args(words)


def test_every_make_target_in_the_readme_exists() -> None:
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    used = {m.split()[1] for m in re.findall(r"make [a-z-]+", EVERYTHING)}
    assert used
    assert used <= targets


def test_every_error_code_revoice_raises_is_in_the_troubleshooting_table() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "functions").rglob("*.py"))
    sources += (ROOT / "infra" / "statemachine" / "revoice.asl.json").read_text()
    raised = set(
        re.findall(r'(?:JobInputError|SyncStepError|VoiceSlotsBusy|TransientStepError)\(\s*"([a-z_]+)"', sources)
    )
    raised |= set(re.findall(r'"Cause": "([a-z_]+):', sources))
    raised |= {code for code, _ in LAMBDA_FAILURES.values()}
    table = DOCS["troubleshooting.md"]
    missing = sorted(code for code in raised if f"`{code}`" not in table)
    assert raised
    assert missing == []


def test_the_advice_the_console_shows_is_the_troubleshooting_tables_what_to_do() -> None:
    from revoice.pipeline.advice import ADVICE

    table = {}
    for line in DOCS["troubleshooting.md"].splitlines():
        if line.startswith("| `"):
            codes, _, what_to_do = (cell.strip() for cell in line.strip("|").split("|"))
            table.update(dict.fromkeys(re.findall(r"`([a-z0-9_]+)`", codes), what_to_do))
    assert table == ADVICE


def test_the_events_readme_lists_every_sample_event() -> None:
    listed = set(re.findall(r"`([a-z0-9-]+\.json)`", (ROOT / "events" / "README.md").read_text()))
    assert listed == {p.name for p in (ROOT / "events").glob("*.json")}


def test_every_manifest_field_is_documented() -> None:
    from revoice.pipeline.manifest import JobManifest

    section = DOCS["manifest.md"]
    missing = [name for name in JobManifest.model_fields if f"`{name}`" not in section]
    assert missing == []


def test_the_fault_matrix_in_the_readme_has_every_fault_the_test_runs() -> None:
    from tests.e2e.test_fault_matrix import FAULTS

    rows = re.findall(r"^ {4}\| (.+?) +\| +\d+ \|", DOCS["testing.md"], flags=re.MULTILINE)
    assert rows == [fault.name for fault in FAULTS]


def test_the_readme_stays_a_first_page_and_every_link_in_it_and_in_docs_resolves() -> None:
    assert len(README.splitlines()) <= 150
    pages = {"README.md": (ROOT, README), **{name: (ROOT / "docs", text) for name, text in DOCS.items()}}
    for name, (where, text) in pages.items():
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text):
            assert (where / target).resolve().exists(), f"{name} links to {target}, which does not exist"
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)\)", README))
    assert linked == set(DOCS), f"docs not linked from the README: {set(DOCS) - linked}"


def test_every_template_parameter_is_in_the_deploy_guide() -> None:
    from revoice_local.stack.template import load_template

    guide = (ROOT / "docs" / "deploy.md").read_text()
    assert [name for name in load_template()["Parameters"] if f"`{name}`" not in guide] == []
