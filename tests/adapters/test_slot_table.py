"""The slot rules of ``tests/unit/test_slots.py``, run on the DynamoDB lease (``revoice.aws.tables.SlotTable``)
through the local stack's moto server: the racing writers really race over HTTP, the conditional writes
are DynamoDB's, and the in-memory lease the unit tests use is held to the same behaviour."""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import pytest

from revoice.aws.tables import SlotTable
from tests.unit import test_slots as rules

# Every rule that takes a lease runs here too, collected under this module with its lease_for fixture.
globals().update(
    {
        name: test
        for name, test in vars(rules).items()
        if name.startswith("test_") and "lease_for" in inspect.signature(test).parameters
    }
)


@pytest.fixture(scope="module")
def table(dynamodb: Any) -> Any:
    return dynamodb.create_table(
        TableName="slots",
        KeySchema=[{"AttributeName": "slot", "KeyType": "HASH"}, {"AttributeName": "entry", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "slot", "AttributeType": "S"},
            {"AttributeName": "entry", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


_pools = itertools.count()


@pytest.fixture
def lease_for(table: Any) -> rules.LeaseFor:
    """A lease of its own in the shared table for each test (one partition key per pool of slots)."""
    return lambda limit: SlotTable(table, limit, f"pool-{next(_pools)}")
