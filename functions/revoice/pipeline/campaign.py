"""Campaigns: one speaker, many lines. A campaign file is read and checked whole before anything runs.

A campaign is a CSV or JSON Lines file (a header, or each object's keys, names the columns), or a JSON
manifest with a ``lines`` list. Every line is a job's manifest: the campaign's own fields (the source,
the voice, defaults for the rest) with the line's overrides. Every problem of every line is reported
with its line number, so a bad file is fixed in one go; a file with any problem starts nothing.

Each line runs as its own job, ``<campaign>--<line>``: its results go to ``results/<campaign>/<line>/``
and its failure to ``failed/<campaign>/<line>/``. The line's name is its ``output_name``, or its number.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from revoice.pipeline.errors import JobInputError
from revoice.pipeline.job_id import CAMPAIGN_LINE
from revoice.pipeline.manifest import JobManifest

MAX_CAMPAIGN_BYTES = 10 * 1024 * 1024
MAX_LINES = 10_000
MAX_TARGETS = 100  # each distinct video's pushed asset travels in the campaign's state (256 KB at most)
LINE_SEPARATOR = "--"  # never in a job id of job_id_for (it folds every run of other characters to one "-")
LINE_NAME = re.compile(CAMPAIGN_LINE.removeprefix(LINE_SEPARATOR))
# What a line may set; everything else is the campaign's (one speaker, one voice for every line).
LINE_FIELDS = ("script", "target", "output_name", "model", "sync_mode", "stability", "similarity_boost")
CAMPAIGN_FIELDS = ("max_cost", "dry_run", "batch", "lines")


class CampaignSettings(BaseModel):
    """What is the campaign's, not any one line's."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_cost: float | None = Field(default=None, gt=0, description="refuse the campaign if its estimate is more")
    dry_run: bool = Field(default=False, description="check and estimate only; start nothing")
    batch: bool | None = Field(default=None, description="through sync. labs' Batch API (None: the stack's default)")


@dataclass(frozen=True)
class CampaignLine:
    number: int  # where the line is in the file (1 is a CSV's header)
    name: str
    manifest: JobManifest


@dataclass
class Campaign:
    settings: CampaignSettings
    lines: list[CampaignLine]
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.lines[0].manifest.source


def line_job_id(campaign_id: str, line_name: str) -> str:
    return f"{campaign_id}{LINE_SEPARATOR}{line_name}"


def split_line_job_id(job_id: str) -> tuple[str, str] | None:
    """(campaign id, line name) of a line's job id; None for a job of its own."""
    campaign, separator, line = job_id.partition(LINE_SEPARATOR)
    return (campaign, line) if separator else None


def read_campaign(raw: bytes, kind: str, defaults: dict[str, Any]) -> Campaign:
    """The campaign in ``raw`` (``kind``: "csv", "jsonl" or "json"), every line checked.

    ``defaults`` are the campaign's own fields when the file cannot carry them (a CSV's object metadata).
    Raises ``JobInputError("invalid_campaign")`` listing every problem, by line.
    """
    if len(raw) > MAX_CAMPAIGN_BYTES:
        raise JobInputError("invalid_campaign", f"the campaign file is {len(raw)} bytes; at most {MAX_CAMPAIGN_BYTES}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JobInputError("invalid_campaign", "the campaign file is not UTF-8 text") from None
    campaign_fields, rows = _rows(text, kind)
    campaign_fields = {**defaults, **campaign_fields}
    problems: list[dict[str, Any]] = []
    try:
        settings = CampaignSettings.model_validate(campaign_fields)
    except ValidationError as error:
        problems += [_problem(0, e) for e in error.errors()]
        settings = CampaignSettings()
    if not rows:
        problems.append({"line": 0, "field": "lines", "problem": "the campaign has no lines"})
    if len(rows) > MAX_LINES:
        problems.append({"line": 0, "field": "lines", "problem": f"{len(rows)} lines; at most {MAX_LINES}"})
        rows = rows[:MAX_LINES]
    shared = {k: v for k, v in campaign_fields.items() if k not in CAMPAIGN_FIELDS}
    lines: list[CampaignLine] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        line = _line(number, row, shared, problems)
        if line is None:
            continue
        if line.name in seen:
            problems.append(
                {"line": number, "field": "output_name", "problem": f"'{line.name}' is line {seen[line.name]}'s too"}
            )
            continue
        seen[line.name] = number
        lines.append(line)
    targets = {line.manifest.target_key for line in lines}
    if len(targets) > MAX_TARGETS:
        problems.append(
            {"line": 0, "field": "target", "problem": f"{len(targets)} distinct videos; a campaign takes {MAX_TARGETS}"}
        )
    sources = {line.manifest.source for line in lines}
    if len(sources) > 1:
        problems.append({"line": 0, "field": "source", "problem": f"one speaker per campaign: {sorted(sources)}"})
    if problems:
        counted = len({p["line"] for p in problems})
        raise CampaignInvalid(problems, f"{len(problems)} problem(s) on {counted} line(s); nothing was started")
    return Campaign(settings=settings, lines=lines)


class CampaignInvalid(Exception):
    """A campaign file with problems: all of them, by line. Raised at the door (ingest, the CLI), never in
    a state machine's task, so it is no step's error."""

    code = "invalid_campaign"

    def __init__(self, problems: list[dict[str, Any]], reason: str) -> None:
        super().__init__(f"{self.code}: {reason}")
        self.problems, self.reason = problems, reason

    def as_input_error(self) -> JobInputError:
        return JobInputError(self.code, self.reason)


def _rows(text: str, kind: str) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    """The campaign's own fields, and (line number, fields) of each line."""
    if kind == "json":
        try:
            document = json.loads(text)
        except ValueError as error:
            raise JobInputError("invalid_campaign", f"the campaign is not valid JSON: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("lines"), list):
            raise JobInputError("invalid_campaign", "a JSON campaign is an object with a 'lines' list")
        lines = document["lines"]
        return {k: v for k, v in document.items() if k != "lines"}, [
            (n, line if isinstance(line, dict) else {"": line}) for n, line in enumerate(lines, start=1)
        ]
    if kind == "jsonl":
        rows = []
        for n, text_line in enumerate(text.splitlines(), start=1):
            if not text_line.strip():
                continue
            try:
                value = json.loads(text_line)
            except ValueError:
                value = {"": "not valid JSON"}
            rows.append((n, value if isinstance(value, dict) else {"": value}))
        return {}, rows
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise JobInputError("invalid_campaign", "the CSV has no header row naming its columns")
    header = [name.strip() for name in reader.fieldnames]
    unknown = [name for name in header if name not in (*LINE_FIELDS, "source")]
    if unknown:
        raise JobInputError("invalid_campaign", f"unknown column(s) {unknown}; a line may set {list(LINE_FIELDS)}")
    rows = []
    for row in reader:
        values = {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
        if None in row:
            values[""] = "more cells than the header has columns"
        if values:
            rows.append((reader.line_num, values))
    return {}, rows


def _line(
    number: int, row: dict[str, Any], shared: dict[str, Any], problems: list[dict[str, Any]]
) -> CampaignLine | None:
    before = len(problems)
    if "" in row:
        problems.append({"line": number, "field": "", "problem": str(row[""])})
        return None
    unknown = sorted(set(row) - {*LINE_FIELDS, "source"})
    for name in unknown:
        problems.append({"line": number, "field": name, "problem": f"a line may set only {', '.join(LINE_FIELDS)}"})
    name = str(row.get("output_name") or f"line-{number:05d}")
    if not LINE_NAME.fullmatch(name):
        problems.append(
            {
                "line": number,
                "field": "output_name",
                "problem": "in a campaign, 1-20 of a-z, 0-9, _ and single - (it names the line's folder and job)",
            }
        )
    fields = {**shared, **{k: v for k, v in row.items() if k in (*LINE_FIELDS, "source")}}
    fields["output_name"] = name if LINE_NAME.fullmatch(name) else None  # reported once, above
    for number_field in ("stability", "similarity_boost"):
        if isinstance(fields.get(number_field), str):
            with contextlib.suppress(ValueError):  # the manifest's check names it
                fields[number_field] = float(fields[number_field])
    try:
        manifest = JobManifest.model_validate(fields)
    except ValidationError as error:
        problems += [_problem(number, e) for e in error.errors()]
        return None
    return None if len(problems) > before else CampaignLine(number=number, name=name, manifest=manifest)


def _problem(number: int, error: Any) -> dict[str, Any]:
    where = ".".join(str(part) for part in error.get("loc", ())) or ""
    return {"line": number, "field": where, "problem": str(error.get("msg", "invalid"))}
