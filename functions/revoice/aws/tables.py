"""The job, voice, slot and callback tables on DynamoDB: every write that can race is one conditional
write, so DynamoDB's atomicity is what the pipeline's guarantees rest on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from revoice.aws import error_code
from revoice.pipeline.clock import now, stamp
from revoice.pipeline.ports import CallbackRow, GenerationStart, QueuedLine, Waiter
from revoice.pipeline.voices import ACTIVE, DELETING, VoiceRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

ROW_TTL_SECONDS = 3 * 24 * 3600
WAITER_TTL_SECONDS = 2 * 24 * 3600  # the execution's own limit: older entries are certainly stale
LEASE = "lease"
WAITING = "waiting#"


def scan_all(table: Table, **request: Any) -> list[dict[str, Any]]:
    """Every item of a scan, page after page (the resource ``Table`` has no paginator, and the client's
    would hand back items in DynamoDB's typed wire form)."""
    items: list[dict[str, Any]] = []
    while True:
        page = table.scan(**request)
        items.extend(dict(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def conditional_update(table: Table, request: dict[str, Any]) -> bool:
    """``update_item``; False (nothing changed) when its ``ConditionExpression`` did not hold."""
    return _conditionally(table.update_item, request) is not None


def conditional_delete(table: Table, request: dict[str, Any]) -> bool:
    """``delete_item``; False (nothing deleted) when its ``ConditionExpression`` did not hold."""
    return _conditionally(table.delete_item, request) is not None


def _conditionally(write: Callable[..., Any], request: dict[str, Any]) -> dict[str, Any] | None:
    """The write's answer; None when its condition did not hold."""
    try:
        return dict(write(**request))
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise


CLEARED_ON_RERUN = "errorCode, reason, errorKey, finishedAt, resultKey"  # what a run's end wrote
RECENT_INDEX = "recent-index"  # the template's GSI on the jobs table: listDay, then listedAt
RECENT_DAYS = 7
WRITERS = 8  # a campaign's line rows written at once
BATCH_GET = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ATTEMPTS = 8


def _listed() -> dict[str, str]:
    """The attributes that put a job in the recent-jobs index: the day it arrived, and when."""
    at = stamp()
    return {"listDay": at[:10], "listedAt": at}


class JobTable:
    """Each job's status and current step. S3 stays the source of truth for results."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def _update(self, job_id: str, condition: str | None = None, claimed: str | None = None, **fields: Any) -> bool:
        """Set ``fields``; False when ``condition`` did not hold (nothing changed). ``claimed`` is the
        value ``:claimed`` stands for in the condition."""
        fields["updatedAt"] = stamp()
        request: dict[str, Any] = {
            "Key": {"jobId": job_id},
            "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            "ExpressionAttributeNames": {f"#{k}": k for k in fields},
            "ExpressionAttributeValues": {f":{k}": v for k, v in fields.items()},
        }
        if claimed is not None:
            request["ExpressionAttributeValues"][":claimed"] = claimed
        if condition:
            request["ConditionExpression"] = condition
        return conditional_update(self._table, request)

    def claimed(self, job_id: str, trigger_key: str, request_hash: str) -> bool:
        """Record a job asked for over HTTP before any work; False when its id was claimed already.

        One conditional write: of two requests with the same Idempotency-Key, exactly one claims it.
        """
        return self._update(
            job_id,
            "attribute_not_exists(jobId)",
            status="ACCEPTED",
            step="queued",
            triggerKey=trigger_key,
            requestHash=request_hash,
            acceptedAt=stamp(),
            **_listed(),
        )

    def accepted(
        self,
        job_id: str,
        trigger_key: str,
        source: str,
        execution_arn: str,
        request_hash: str | None = None,
        notify_url: str | None = None,
    ) -> None:
        """Record a started job; a duplicate start of a job already started changes nothing."""
        extra = {"requestHash": request_hash} if request_hash else {}
        if notify_url:
            extra["notifyUrl"] = notify_url
        self._update(
            job_id,
            "attribute_not_exists(jobId) OR #status = :claimed",
            claimed="ACCEPTED",
            status="RUNNING",
            step="queued",
            triggerKey=trigger_key,
            source=source,
            executionArn=execution_arn,
            startedAt=stamp(),
            **extra,
            **_listed(),
        )

    def rejected(self, job_id: str, trigger_key: str, code: str, reason: str, error_key: str) -> None:
        self._update(
            job_id,
            status="REJECTED",
            step="ingest",
            triggerKey=trigger_key,
            errorCode=code,
            reason=reason,
            errorKey=error_key,
            finishedAt=stamp(),
            **_listed(),
        )

    def entered(self, job_id: str, step: str) -> None:
        self._update(job_id, step=step)

    def succeeded(self, job_id: str, result_key: str) -> None:
        self._update(job_id, status="SUCCEEDED", step="done", resultKey=result_key, finishedAt=stamp())

    def failed(self, job_id: str, step: str, code: str, reason: str, error_key: str) -> None:
        self._update(
            job_id, status="FAILED", step=step, errorCode=code, reason=reason, errorKey=error_key, finishedAt=stamp()
        )

    def sync_status(self, job_id: str, status: str) -> None:
        """What sync. labs last said of the job's TTS or generation (for people following the job)."""
        self._update(job_id, syncStatus=status)

    def campaign_run(self, campaign_id: str, trigger_key: str, source: str) -> int | None:
        """Claim the campaign's next run (1, 2, ...); None while a run is under way (a duplicate S3 event,
        or the file dropped again before the run it started ended). One conditional write."""
        at = stamp()
        request: dict[str, Any] = {
            "Key": {"jobId": campaign_id},
            "UpdateExpression": "SET #status = :running, step = :queued, triggerKey = :key, #source = :source, "
            "kind = :campaign, startedAt = :at, updatedAt = :at, listDay = :day, listedAt = :at ADD attempts :one "
            f"REMOVE {CLEARED_ON_RERUN}",
            "ConditionExpression": "attribute_not_exists(jobId) OR NOT #status IN (:running, :accepted)",
            "ExpressionAttributeNames": {"#status": "status", "#source": "source"},
            "ExpressionAttributeValues": {
                ":running": "RUNNING",
                ":accepted": "ACCEPTED",
                ":queued": "queued",
                ":key": trigger_key,
                ":source": source,
                ":campaign": "campaign",
                ":at": at,
                ":day": at[:10],
                ":one": 1,
            },
            "ReturnValues": "UPDATED_NEW",
        }
        answer = _conditionally(self._table.update_item, request)
        return None if answer is None else int(answer["Attributes"]["attempts"])

    def started_as(self, job_id: str, execution_arn: str) -> None:
        self._update(job_id, executionArn=execution_arn)

    def lines_queued(self, lines: list[QueuedLine]) -> None:
        """Campaign lines about to run (again): each RUNNING from the start, its last failure cleared, out of
        the recent-jobs index (a campaign is listed once). ``WRITERS`` at a time, through the table's client
        (thread-safe, with the resource's type conversion; a Table resource itself is not): a 1,000-line
        plan is not a thousand round trips one after the other."""
        client, at = self._table.meta.client, stamp()

        def queue(line: QueuedLine) -> None:
            client.update_item(
                TableName=self._table.name,
                Key={"jobId": line.job_id},
                UpdateExpression="SET #status = :running, step = :queued, triggerKey = :key, #source = :source, "
                "executionArn = :arn, campaignId = :campaign, startedAt = :at, updatedAt = :at ADD attempts :one "
                f"REMOVE {CLEARED_ON_RERUN}",
                ExpressionAttributeNames={"#status": "status", "#source": "source"},
                ExpressionAttributeValues={
                    ":running": "RUNNING",
                    ":queued": "queued",
                    ":key": line.trigger_key,
                    ":source": line.source,
                    ":arn": line.execution_arn,
                    ":campaign": line.campaign_id,
                    ":at": at,
                    ":one": 1,
                },
            )

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(queue, lines))

    def holding_voice(self, job_id: str, voice_id: str) -> None:
        self._update(job_id, voiceId=voice_id)

    def notified(self, job_id: str, delivery: dict[str, Any]) -> None:
        """How the job's outbound notification went so far (attempts, status, last error)."""
        self._update(job_id, notification=delivery)

    def get_many(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The rows of ``job_ids`` that exist, by id: 100 a request (BatchGetItem), consistent like ``get``."""
        client, name = self._table.meta.client, self._table.name
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(job_ids), BATCH_GET):
            keys: list[Any] = [{"jobId": job_id} for job_id in job_ids[start : start + BATCH_GET]]
            for attempt in range(BATCH_GET_ATTEMPTS):
                answer = client.batch_get_item(RequestItems={name: {"Keys": keys, "ConsistentRead": True}})
                for row in answer["Responses"].get(name, []):
                    found[str(row["jobId"])] = dict(row)
                unread: dict[str, Any] = dict(answer.get("UnprocessedKeys") or {})
                keys = list((unread.get(name) or {}).get("Keys") or [])
                if not keys:
                    break
                time.sleep(0.05 * 2**attempt)  # throttled: DynamoDB answers the rest later
            else:
                raise RuntimeError(f"DynamoDB left {len(keys)} of the jobs unread after {BATCH_GET_ATTEMPTS} tries")
        return found

    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item is not None else None

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The latest jobs, newest first, from the index by day (read back at most ``RECENT_DAYS`` days)."""
        from boto3.dynamodb.conditions import Key  # imports boto3 itself: only where the list is read

        found: list[dict[str, Any]] = []
        today = now().date()
        for back in range(RECENT_DAYS):
            if len(found) >= limit:
                break
            answer = self._table.query(
                IndexName=RECENT_INDEX,
                KeyConditionExpression=Key("listDay").eq((today - timedelta(days=back)).isoformat()),
                ScanIndexForward=False,
                Limit=limit - len(found),
            )
            found.extend(_plain(item) for item in answer.get("Items", []))
        return found

    def is_running(self, job_id: str) -> bool:
        record = self.get(job_id)
        return record is not None and record.get("status") == "RUNNING"


class VoiceTable:
    """The voice registry in DynamoDB (see ``revoice.pipeline.voices``)."""

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
        return _voice_record(item) if item else None

    def by_source(self, source_hash: str) -> list[VoiceRecord]:
        """Active clones of this source, most recently used first."""
        answer = self._table.query(
            IndexName="sourceHash-index",
            KeyConditionExpression="sourceHash = :hash",
            ExpressionAttributeValues={":hash": source_hash},
        )
        records = [_voice_record(item) for item in answer.get("Items", [])]
        return sorted(
            (r for r in records if r.state == ACTIVE and not r.ephemeral), key=lambda r: r.last_used_at, reverse=True
        )

    def all(self) -> list[VoiceRecord]:
        return [_voice_record(item) for item in scan_all(self._table, ConsistentRead=True)]

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


class SlotTable:
    """The lease item (the set of job ids holding a slot) and the waiting line (one item per waiter,
    sorted by when it first asked), under one partition key per pool of slots."""

    def __init__(self, table: Table, limit: int, name: str) -> None:
        self._table = table
        self.limit = limit
        self._name = name
        self._lease = {"slot": name, "entry": LEASE}

    def acquire(self, job_id: str) -> bool:
        return conditional_update(
            self._table,
            {
                "Key": self._lease,
                "UpdateExpression": "ADD holders :job",
                "ConditionExpression": "attribute_not_exists(holders) OR size(holders) < :limit "
                "OR contains(holders, :id)",
                "ExpressionAttributeValues": {":job": {job_id}, ":limit": self.limit, ":id": job_id},
            },
        )

    def release(self, job_id: str) -> None:
        self._table.update_item(
            Key=self._lease, UpdateExpression="DELETE holders :job", ExpressionAttributeValues={":job": {job_id}}
        )

    def holders(self) -> set[str]:
        item = self._table.get_item(Key=self._lease, ConsistentRead=True).get("Item") or {}
        return {str(job) for job in item.get("holders", set())}  # type: ignore[union-attr]

    def replace_holders(self, read: set[str], holders: set[str]) -> bool:
        return conditional_update(
            self._table,
            {
                "Key": self._lease,
                "UpdateExpression": "SET holders = :passed",
                "ConditionExpression": "holders = :read",
                "ExpressionAttributeValues": {":passed": holders, ":read": read},
            },
        )

    def enqueue(self, job_id: str, entry: str, task_token: str, start: GenerationStart | None) -> None:
        item: dict[str, Any] = {
            "slot": self._name,
            "entry": WAITING + entry,
            "jobId": job_id,
            "taskToken": task_token,
            "expiresAt": int(time.time()) + WAITER_TTL_SECONDS,
        }
        if start is not None:
            item["generationRequest"] = json.dumps(start.request)
            item["requestKey"] = start.idempotency_key
        self._table.put_item(Item=item)

    def dequeue(self, entry: str) -> None:
        self._table.delete_item(Key={"slot": self._name, "entry": WAITING + entry})

    def line(self) -> list[Waiter]:
        from boto3.dynamodb.conditions import Key  # imports boto3 itself: only where a line is read

        answer = self._table.query(
            KeyConditionExpression=Key("slot").eq(self._name) & Key("entry").begins_with(WAITING),
            ConsistentRead=True,
        )
        return [
            Waiter(str(item["jobId"]), str(item["entry"]).removeprefix(WAITING), str(item["taskToken"]), _start(item))
            for item in answer.get("Items", [])
        ]

    def take_out_of_line(self, waiter: Waiter) -> bool:
        return conditional_delete(
            self._table,
            {
                "Key": {"slot": self._name, "entry": WAITING + waiter.entry},
                "ConditionExpression": "taskToken = :token",
                "ExpressionAttributeValues": {":token": waiter.task_token},
            },
        )


class CallbackTable:
    """One row per generation id: its parked task token and its webhook, whichever came first."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def _set(self, generation_id: str, **fields: Any) -> CallbackRow:
        fields["expiresAt"] = int(time.time()) + ROW_TTL_SECONDS
        answer = self._table.update_item(
            Key={"generationId": generation_id},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames={f"#{k}": k for k in fields},
            ExpressionAttributeValues={f":{k}": v for k, v in fields.items()},
            ReturnValues="ALL_NEW",
        )
        item = answer.get("Attributes", {})
        return CallbackRow(
            generation_id=generation_id,
            token=item.get("taskToken"),  # type: ignore[arg-type]
            generation=json.loads(str(item["generation"])) if "generation" in item else None,
            webhook=json.loads(str(item["webhook"])) if "webhook" in item else None,
            job_id=str(item["jobId"]) if "jobId" in item else None,
        )

    def park(self, generation_id: str, token: str, generation: dict[str, Any], job_id: str) -> CallbackRow:
        return self._set(generation_id, taskToken=token, generation=json.dumps(generation), jobId=job_id)

    def arrived(self, generation_id: str, webhook: dict[str, Any]) -> CallbackRow:
        return self._set(generation_id, webhook=json.dumps(webhook), webhookAt=stamp())


def _start(waiter: dict[str, Any]) -> GenerationStart | None:
    if "generationRequest" not in waiter:
        return None
    return GenerationStart(json.loads(str(waiter["generationRequest"])), str(waiter["requestKey"]))


def _voice_record(item: dict[str, Any]) -> VoiceRecord:
    return VoiceRecord(
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


def _plain(value: Any) -> Any:
    """An item as JSON has it: DynamoDB's numbers come back as ``Decimal``."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
