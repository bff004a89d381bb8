"""Time as revoice records it: aware UTC datetimes in the job state, ISO 8601 text with ``Z`` in
documents and tables (millisecond precision, so text order is time order)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, PlainSerializer


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime | None = None) -> str:
    """``moment`` (now by default) as ``2026-12-01T14:51:46.123Z``."""
    return (moment or now()).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stamp(value: object) -> datetime | None:
    """A stamp() read back (None for none)."""
    return datetime.fromisoformat(str(value)) if value else None


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


# A state field: validated as an aware datetime (naive text is refused), written back as stamp() text.
Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(lambda moment: moment.astimezone(UTC)),
    PlainSerializer(stamp, return_type=str, when_used="json"),
]
