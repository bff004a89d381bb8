"""What S3 does for a browser that moto does not: browser form uploads (a presigned POST) checked as S3
checks them, CORS preflights answered without credentials, and CORS headers on a form upload's answer.

moto reads credentials from the Authorization header only, so a form upload (its credentials are form
fields) would fail under IAM enforcement, and a preflight (no credentials at all, by design) would be
refused. S3 checks a form upload's policy signature (SigV4 over the base64 policy), its expiry, that
every condition holds and every form field is covered by one, and that the signer may ``s3:PutObject``
the key. Anything else is refused with S3's own AccessDenied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

# Form fields S3 does not require a policy condition for.
UNCONDITIONED = {"file", "policy", "x-amz-signature"}


def check_post_policy(response: Any, bucket_name: str) -> None:
    """A form upload to ``bucket_name`` as S3 checks it; raises moto's AccessDenied when it fails."""
    fields = {str(name).lower(): str(value) for name, value in response.form_data.items()}  # as sent, no file
    request = _form_request_class()(
        account_id=response.current_account,
        method="POST",
        path=response.raw_path,
        data=response.data,
        body=b"",
        headers=response.headers,
        action="PutObject",
        fields=fields,
    )
    request.check_signature()
    policy = request.policy
    size = len(response.raw_body or b"")
    if not _conditions_hold(policy, fields, bucket_name, size):
        request.deny()
    request.check_action_permitted(f"arn:aws:s3:::{bucket_name}/{fields.get('key', '')}")


def _conditions_hold(policy: dict[str, Any], fields: dict[str, str], bucket: str, size: int) -> bool:
    try:
        expires = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return False
    if datetime.now(UTC) > expires:
        return False
    values = {**fields, "bucket": bucket}
    covered = set()
    for condition in policy.get("conditions", []):
        if isinstance(condition, dict):
            for name, wanted in condition.items():
                covered.add(name.lower())
                if values.get(name.lower()) != str(wanted):
                    return False
        elif isinstance(condition, list) and len(condition) == 3:
            operator, name, wanted = (str(condition[0]).lower(), str(condition[1]), condition[2])
            if operator == "content-length-range":
                if not int(name) <= size <= int(wanted):
                    return False
                continue
            field = name.lstrip("$").lower()
            covered.add(field)
            value = values.get(field)
            if value is None or (operator == "eq" and value != str(wanted)):
                return False
            if operator == "starts-with" and not value.startswith(str(wanted)):
                return False
            if operator not in ("eq", "starts-with"):
                return False
        else:
            return False
    uncovered = {f for f in fields if f not in UNCONDITIONED and not f.startswith("x-ignore-")} - covered
    return not uncovered


@cache
def _form_request_class() -> type:
    """moto's S3 request check (the signer's access key and policies) for credentials in form fields."""
    from moto.iam.access_control import S3IAMRequest

    class FormUpload(S3IAMRequest):
        def __init__(self, *, headers: Any, fields: dict[str, str], **kwargs: Any) -> None:
            self._fields = fields
            signed = {
                **dict(headers.items()),
                "Authorization": f"AWS4-HMAC-SHA256 Credential={fields.get('x-amz-credential', '')}, "
                f"SignedHeaders=host, Signature={fields.get('x-amz-signature', '')}",
            }
            if "x-amz-security-token" in fields:
                signed["X-Amz-Security-Token"] = fields["x-amz-security-token"]
            super().__init__(headers=signed, **kwargs)
            self.policy: dict[str, Any] = {}

        def deny(self) -> None:
            self._raise_access_denied()

        def check_signature(self) -> None:
            encoded = self._fields.get("policy", "")
            try:
                self.policy = json.loads(base64.b64decode(encoded, validate=True))
                _, day, region, service, _ = self._fields["x-amz-credential"].split("/")
            except (KeyError, ValueError, binascii.Error):
                self._raise_access_denied()
            key = f"AWS4{self._access_key.create_credentials().secret_key}".encode()
            for part in (day, region, service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            expected = hmac.new(key, encoded.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self._fields.get("x-amz-signature", "")):
                self._raise_signature_does_not_match()

    return FormUpload


def with_cors_headers(post: Any) -> Any:
    """moto's bucket POST, answering with the bucket's CORS headers as S3 does (moto leaves them off)."""

    def bucket_post(self: Any, request: Any, bucket_name: str) -> Any:
        status, headers, body = post(self, request, bucket_name)
        return status, {**self._get_cors_headers_other(), **headers}, body

    bucket_post.__wrapped__ = post  # type: ignore[attr-defined]
    return bucket_post
