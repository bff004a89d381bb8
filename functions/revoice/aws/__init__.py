"""The AWS adapters: each implements a port of ``revoice.pipeline.ports`` on boto3.

Each takes its boto3 client or table in the constructor, so the local stack (or a test) points it
anywhere. Nothing outside this package and the handlers' wiring imports boto3 or botocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
