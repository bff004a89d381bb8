"""The plan's generation slots: a counting semaphore in one DynamoDB item.

sync. labs caps in-flight generations per plan and answers the next one with 429. Rather than let a
burst of jobs hammer that limit, a job takes a slot before it starts its generation and gives it back
when the job ends, however it ends. The item holds the set of job ids holding a slot, so taking and
giving back are idempotent (a retried step cannot take two) and a leaked slot names its job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from revoice.pipeline.stores import conditional_update

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

GENERATIONS = "generations"


class GenerationSlots:
    def __init__(self, table: Table, limit: int, name: str = GENERATIONS) -> None:
        self._table = table
        self.limit = limit
        self._key = {"slot": name}

    def acquire(self, job_id: str) -> bool:
        """Take a slot for ``job_id``; True if it holds one now (also when it already did)."""
        return conditional_update(
            self._table,
            {
                "Key": self._key,
                "UpdateExpression": "ADD holders :job",
                "ConditionExpression": "attribute_not_exists(holders) OR size(holders) < :limit "
                "OR contains(holders, :id)",
                "ExpressionAttributeValues": {":job": {job_id}, ":limit": self.limit, ":id": job_id},
            },
        )

    def release(self, job_id: str) -> None:
        """Give back ``job_id``'s slot; a no-op if it holds none."""
        self._table.update_item(
            Key=self._key, UpdateExpression="DELETE holders :job", ExpressionAttributeValues={":job": {job_id}}
        )

    def holders(self) -> set[str]:
        item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item") or {}
        return {str(job) for job in item.get("holders", set())}  # type: ignore[union-attr]

    def stale(self, job_is_running: Callable[[str], bool]) -> list[str]:
        """Jobs holding a slot that are no longer running (their end-of-execution event was lost)."""
        return sorted(job for job in self.holders() if not job_is_running(job))

    def reclaim(self, job_is_running: Callable[[str], bool]) -> list[str]:
        """Give back the stale slots; return whose they were."""
        stale = self.stale(job_is_running)
        for job_id in stale:
            self.release(job_id)
        return stale
