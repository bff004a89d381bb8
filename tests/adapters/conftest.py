"""The AWS adapters against the local stack's moto server over HTTP (no stack: just DynamoDB)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest

from revoice_local.stack.moto_server import LocalMotoServer


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    """A DynamoDB resource on a moto server of the module's own."""
    server = LocalMotoServer().start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    with mock.patch.dict(os.environ, env):
        yield boto3.resource("dynamodb", endpoint_url=server.url)
    server.stop()
