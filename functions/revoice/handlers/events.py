"""Pydantic models of the events the handlers receive, holding only the fields revoice reads.

Powertools' ``S3Model`` insists on fields (``userIdentity``, ``requestParameters``...) that revoice
never uses and that some senders (moto, hand-written test events) leave out; accepting them loosely
costs nothing and keeps one handler for every sender.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class S3Bucket(_Lenient):
    name: str


class S3Object(_Lenient):
    key: str
    size: int | None = None
    eTag: str | None = None
    versionId: str | None = None


class S3Entity(_Lenient):
    bucket: S3Bucket
    object: S3Object


class S3Record(_Lenient):
    eventName: str = "ObjectCreated:Put"
    s3: S3Entity

    @property
    def version(self) -> str:
        """The object version id, or its ETag in a bucket without versioning."""
        return self.s3.object.versionId or self.s3.object.eTag or ""


class S3Event(_Lenient):
    Records: list[S3Record] = []  # S3's own "s3:TestEvent" has none: nothing to do, and no error to retry
    Event: str | None = None
