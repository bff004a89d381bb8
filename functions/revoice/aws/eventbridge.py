"""Job end events on an EventBridge bus."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from revoice.pipeline.outcome import SOURCE, JobOutcome

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class EventPublishFailed(Exception):
    """EventBridge accepted the call but not the entry (throttled, or an internal failure): retried by the
    caller's own retries (the state machine's, or Lambda's for the failure recorder)."""


class EventBridgeEvents:
    def __init__(self, bus: str, client: EventBridgeClient) -> None:
        self.bus = bus
        self._events = client

    def publish(self, outcome: JobOutcome) -> None:
        answer = self._events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": outcome.detail_type.value,
                    "Detail": json.dumps(outcome.wire()),
                    "EventBusName": self.bus,
                    "Resources": [],
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            failed = answer["Entries"][0]
            raise EventPublishFailed(
                f"EventBridge refused the event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
            )
