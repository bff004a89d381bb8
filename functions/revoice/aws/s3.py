"""The jobs bucket on S3."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from revoice.aws import error_code
from revoice.pipeline.ports import ObjectForbidden, ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_BYTES = 8 * 1024 * 1024
NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
FORBIDDEN = {"403", "AccessDenied", "Forbidden"}


class S3ObjectStore:
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

    def presign(self, key: str, seconds: int) -> str:
        """A download link for ``key`` that anyone may use for ``seconds`` (signed with this role's key)."""
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )

    def presign_upload(self, key: str, max_bytes: int, seconds: int) -> dict[str, Any]:
        """A browser form upload of one video to ``key`` (S3's POST policy): that key, 1 byte to
        ``max_bytes``, a ``video/`` content type, for ``seconds``."""
        answer = self._s3.generate_presigned_post(
            self.bucket,
            key,
            Conditions=[["content-length-range", 1, max_bytes], ["starts-with", "$Content-Type", "video/"]],
            ExpiresIn=seconds,
        )
        return {"url": answer["url"], "fields": answer["fields"]}

    def upload_stream(self, key: str, stream: IO[bytes], content_type: str) -> None:
        """Multipart upload from a stream: memory stays near ``PART_BYTES`` x concurrency."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4)
        self._s3.upload_fileobj(stream, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=config)
