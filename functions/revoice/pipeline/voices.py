"""The voices revoice clones: their names, and the records that make them reusable, safe to free, and
easy to sweep (kept by a ``VoiceRegistry``, ``revoice.pipeline.ports``).

Every clone gets a row (voice id, name, source content hash, created and last-used times, the jobs
holding it, and a state). Holding and deleting are conditional writes, so two jobs racing for the
last clone slot cannot delete each other's voice: a job holds a voice only while it is ``active``,
and a voice is claimed for deletion only while nobody holds it. Voices revoice did not make are never
in the registry, so they are never deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

CLONE_PREFIX = "revoice"
CLONE_NAME = re.compile(rf"^{CLONE_PREFIX}-(\d{{8}}T\d{{6}}Z)(?:-([a-z0-9-]+))?(?:_|$)")
ACTIVE, DELETING = "active", "deleting"


def clone_name_for(job_id: str, received: datetime, label: str | None) -> str:
    """``revoice-<UTC time>-<job id>[_<label>]``: recognisable, dated, and naming the job that made it."""
    suffix = "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""
    return f"{CLONE_PREFIX}-{received:%Y%m%dT%H%M%SZ}-{job_id}{suffix}"


def clone_job_id(name: str | None) -> str | None:
    """The job that made a revoice clone, read from its name."""
    match = CLONE_NAME.match(name or "")
    return match.group(2) if match else None


def clone_created_at(name: str | None) -> datetime | None:
    """When a revoice clone was made, read from its name; None for names revoice does not give."""
    match = CLONE_NAME.match(name or "")
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class VoiceRecord:
    voice_id: str
    name: str
    source_hash: str
    source_key: str
    created_at: str
    last_used_at: str
    holders: frozenset[str]
    state: str
    ephemeral: bool

    def idle_for(self, now: float) -> float:
        last = datetime.fromisoformat(self.last_used_at).timestamp()
        return now - last
