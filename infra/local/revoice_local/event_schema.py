"""The JSON Schema of a job's end event (``detail``), generated from ``revoice.pipeline.outcome.JobOutcome``
into docs/job-event.schema.json: ``python -m revoice_local.event_schema --write``. A test holds the file
to the model, so the documented schema is the one the functions publish."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from revoice.pipeline.outcome import SCHEMA_VERSION, SOURCE, DetailType, JobOutcome

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "docs" / "job-event.schema.json"


def schema() -> str:
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **JobOutcome.model_json_schema(by_alias=True, mode="serialization"),
        "title": f"revoice job event, schema version {SCHEMA_VERSION}",
        "description": f"The detail of the events revoice publishes (source {SOURCE!r}, detail-type one of "
        + ", ".join(repr(t.value) for t in DetailType)
        + ").",
    }
    return json.dumps(document, indent=2) + "\n"


def main() -> int:
    if sys.argv[1:] == ["--write"]:
        SCHEMA_FILE.write_text(schema())
        return 0
    print(schema(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
