"""The AWS side of a job, behind small adapters: the bucket, the job and voice tables, executions.

Each takes its boto3 client in the constructor, so the local stack (or a test) points them anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from revoice.pipeline.clock import stamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

PART_BYTES = 8 * 1024 * 1024
NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
FORBIDDEN = {"403", "AccessDenied", "Forbidden"}


class ObjectForbidden(Exception):
    """S3 refused to say anything of the object (403): not "missing" (the role may list the bucket, so a
    missing key is a 404), but unreadable: another account's object, a KMS key the role may not use, or a
    policy that denies it."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket, self.key = bucket, key
        super().__init__(f"S3 refused access to s3://{bucket}/{key} (403)")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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
    return _conditionally(table.update_item, request)


def conditional_delete(table: Table, request: dict[str, Any]) -> bool:
    """``delete_item``; False (nothing deleted) when its ``ConditionExpression`` did not hold."""
    return _conditionally(table.delete_item, request)


def _conditionally(write: Callable[..., Any], request: dict[str, Any]) -> bool:
    try:
        write(**request)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    version_id: str | None
    metadata: dict[str, str]


class ObjectStore:
    """One S3 bucket. Reads and writes stream: nothing here holds a whole video in memory."""

    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self._s3 = client

    def head(self, key: str) -> ObjectInfo | None:
        try:
            answer = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            if error_code(exc) in FORBIDDEN:
                raise ObjectForbidden(self.bucket, key) from exc
            raise
        return ObjectInfo(
            key=key,
            size=answer["ContentLength"],
            etag=answer["ETag"].strip('"'),
            version_id=answer.get("VersionId"),
            metadata=dict(answer.get("Metadata", {})),
        )

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def first_bytes(self, key: str, count: int) -> bytes:
        answer = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{count - 1}")
        return answer["Body"].read()

    def open(self, key: str) -> IO[bytes]:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]  # type: ignore[return-value]

    def read_json(self, key: str) -> Any:
        """The JSON document at ``key``, or None when there is none."""
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise
        return json.loads(body)

    def put_json(self, key: str, document: Any) -> None:
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=json.dumps(document, indent=2).encode(), ContentType="application/json"
        )

    def upload_stream(self, key: str, stream: IO[bytes], content_type: str) -> None:
        """Multipart upload from a stream: memory stays near ``PART_BYTES`` x concurrency."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4)
        self._s3.upload_fileobj(stream, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=config)


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
        )

    def accepted(
        self, job_id: str, trigger_key: str, source: str, execution_arn: str, request_hash: str | None = None
    ) -> None:
        """Record a started job; a duplicate start of a job already started changes nothing."""
        extra = {"requestHash": request_hash} if request_hash else {}
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

    def holding_voice(self, job_id: str, voice_id: str) -> None:
        self._update(job_id, voiceId=voice_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        return self._table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")

    def is_running(self, job_id: str) -> bool:
        record = self.get(job_id)
        return record is not None and record.get("status") == "RUNNING"


class Executions:
    """Starts one execution per job, named by the job id, so a duplicate start changes nothing."""

    def __init__(self, state_machine_arn: str, client: SFNClient) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = client

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        """The new execution's ARN, or None when an execution of that name already exists."""
        try:
            answer = self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return None
            raise
        return answer["executionArn"]
