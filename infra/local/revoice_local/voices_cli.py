"""``revoice voices list`` and ``revoice voices cleanup``: the same code as the stack, from a terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from revoice.aws.tables import VoiceTable
from revoice.pipeline.voices import clone_created_at
from revoice.sync import SyncClient
from revoice_local.tables import format_table
from revoice_local.target import Target


def list_voices(target: Target) -> list[dict[str, Any]]:
    """Every voice sync. labs lists, with what revoice knows of it."""
    registry = VoiceTable(target.table(target.voices_table))
    jobs = target.table(target.jobs_table)
    records = {r.voice_id: r for r in registry.all()}
    now = datetime.now(UTC).timestamp()
    rows = []
    with SyncClient(target.api_key(), base_url=target.sync_base_url) as sync:
        listed = sync.list_voices()
    for voice in listed:
        record = records.get(voice.id) if voice.id else None
        running = sorted(
            j
            for j in (record.holders if record else ())
            if (jobs.get_item(Key={"jobId": j}).get("Item") or {}).get("status") == "RUNNING"
        )
        if record is not None:
            kind = "revoice (ephemeral)" if record.ephemeral else "revoice"
        elif clone_created_at(voice.name):
            kind = "revoice (unrecorded)"
        else:
            kind = "not revoice's (built-in or another tool's)"
        if not voice.can_speak:
            kind += f"; cannot speak: {voice.restriction}"
        rows.append(
            {
                "id": voice.id,
                "name": voice.name,
                "kind": kind,
                "heldBy": running,
                "lastUsedAt": record.last_used_at if record else None,
                "idleHours": round(record.idle_for(now) / 3600, 1) if record else None,
            }
        )
    return rows


def run_cleanup(target: Target, dry_run: bool) -> dict[str, Any]:
    answer = target.client("lambda").invoke(
        FunctionName=target.cleanup_function, Payload=json.dumps({"dryRun": dry_run}).encode()
    )
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise RuntimeError(f"the cleanup failed: {payload.get('errorMessage', payload)}")
    return dict(payload)


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(
        ["ID", "NAME", "KIND", "HELD BY", "IDLE (h)"],
        [
            [
                r["id"] or "-",
                r["name"] or "-",
                r["kind"],
                ",".join(r["heldBy"]) or "-",
                "-" if r["idleHours"] is None else str(r["idleHours"]),
            ]
            for r in rows
        ],
    )


def cleanup_summary(report: dict[str, Any]) -> str:
    counts = report.get("counts", {})
    mode = "dry run: nothing was changed" if report.get("dry_run") else "done"
    lines = [
        f"Voice cleanup ({mode}); report s3://…/{report.get('report')}",
        "  " + ", ".join(f"{k} {v}" for k, v in counts.items()),
    ]
    for entry in report.get("deleted", []):
        lines.append(
            f"  {'would delete' if report.get('dry_run') else 'deleted'}  {entry['voiceId']}  "
            f"{entry['name']}  ({entry.get('why', '')})"
        )
    for entry in report.get("failed", []):
        lines.append(f"  FAILED  {entry['voiceId']}  {entry['error']} (kept; the next run retries)")
    return "\n".join(lines)
