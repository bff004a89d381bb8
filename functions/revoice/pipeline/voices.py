"""The voices revoice clones: a registry that makes them reusable, safe to free, and easy to sweep.

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
from typing import TYPE_CHECKING, Any

from revoice.pipeline.clock import stamp
from revoice.pipeline.stores import conditional_update, scan_all

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

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

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> VoiceRecord:
        return cls(
            voice_id=str(item["voiceId"]),
            name=str(item.get("name", "")),
            source_hash=str(item.get("sourceHash", "")),
            source_key=str(item.get("sourceKey", "")),
            created_at=str(item.get("createdAt", "")),
            last_used_at=str(item.get("lastUsedAt", item.get("createdAt", ""))),
            holders=frozenset(str(h) for h in item.get("holders", set())),
            state=str(item.get("state", ACTIVE)),
            ephemeral=bool(item.get("ephemeral", False)),
        )

    def idle_for(self, now: float) -> float:
        last = datetime.fromisoformat(self.last_used_at).timestamp()
        return now - last


class VoiceRegistry:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(
        self,
        voice_id: str,
        name: str,
        *,
        source_hash: str,
        source_key: str,
        job_id: str | None,
        ephemeral: bool = False,
        created_at: str | None = None,
    ) -> None:
        now = stamp()
        item: dict[str, Any] = {
            "voiceId": voice_id,
            "name": name,
            "sourceKey": source_key,
            "createdAt": created_at or now,
            "lastUsedAt": now,
            "state": ACTIVE,
            "ephemeral": ephemeral,
        }
        if source_hash:  # an index key cannot be empty; adopted clones have no known source
            item["sourceHash"] = source_hash
        if job_id:
            item["holders"] = {job_id}
        self._table.put_item(Item=item)

    def get(self, voice_id: str) -> VoiceRecord | None:
        item = self._table.get_item(Key={"voiceId": voice_id}, ConsistentRead=True).get("Item")
        return VoiceRecord.from_item(item) if item else None

    def by_source(self, source_hash: str) -> list[VoiceRecord]:
        """Active clones of this source, most recently used first."""
        answer = self._table.query(
            IndexName="sourceHash-index",
            KeyConditionExpression="sourceHash = :hash",
            ExpressionAttributeValues={":hash": source_hash},
        )
        records = [VoiceRecord.from_item(item) for item in answer.get("Items", [])]
        return sorted(
            (r for r in records if r.state == ACTIVE and not r.ephemeral), key=lambda r: r.last_used_at, reverse=True
        )

    def all(self) -> list[VoiceRecord]:
        return [VoiceRecord.from_item(item) for item in scan_all(self._table, ConsistentRead=True)]

    def hold(self, voice_id: str, job_id: str) -> bool:
        """Mark ``job_id`` as using the voice; False if it is being deleted (or gone)."""
        return self._conditional(
            voice_id,
            "ADD holders :job SET lastUsedAt = :now",
            "#state = :active",
            {":job": {job_id}, ":now": stamp(), ":active": ACTIVE},
        )

    def release(self, voice_id: str, job_id: str) -> None:
        self._conditional(
            voice_id,
            "DELETE holders :job SET lastUsedAt = :now",
            "attribute_exists(voiceId)",
            {":job": {job_id}, ":now": stamp()},
        )

    def claim_for_deletion(self, voice_id: str) -> bool:
        """Only an active voice nobody holds can be claimed; the claim stops new holds at once."""
        return self._conditional(
            voice_id,
            "SET #state = :deleting, claimedAt = :now",
            "#state = :active AND (attribute_not_exists(holders) OR size(holders) = :none)",
            {":deleting": DELETING, ":now": stamp(), ":active": ACTIVE, ":none": 0},
        )

    def unclaim(self, voice_id: str) -> None:
        self._conditional(voice_id, "SET #state = :active", "attribute_exists(voiceId)", {":active": ACTIVE})

    def forget(self, voice_id: str) -> None:
        self._table.delete_item(Key={"voiceId": voice_id})

    def _conditional(self, voice_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        request: dict[str, Any] = {
            "Key": {"voiceId": voice_id},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if "#state" in update + condition:
            request["ExpressionAttributeNames"] = {"#state": "state"}
        return conditional_update(self._table, request)
