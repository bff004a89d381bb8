"""One emulated sync. labs organisation: what it holds, and the rules every endpoint shares (rate windows,
monthly quotas, idempotency, org storage and its signed URLs).

State lives in memory (files on a scratch disk); one event loop serves every client, media work runs
in worker threads. The endpoints are in their own modules, one per resource (``assets``, ``voices``,
``tts``, ``generations``, ``control``), assembled by :mod:`revoice_local.emulator.app`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from starlette.requests import Request

from revoice_local.emulator.catalog import BUILTIN_VOICES, IDEMPOTENCY_KEY, RUNNING
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.emulator.errors import ApiError
from revoice_local.emulator.faults import FaultBook
from revoice_local.emulator.records import BatchRecord, GenerationRecord, Ticket, TtsJobRecord, VoiceRecord

# What a voice list may also hold, per the reference (voice_list_variants): only a provider, no name,
# a voice that must be verified, one that is blocked.
LIST_VARIANTS = (
    VoiceRecord(id=None, name=None, internal_voice_id=None, builtin=True),
    VoiceRecord(id="builtin-unnamed", name=None, builtin=True),
    VoiceRecord(id="builtin-unverified", name="Unverified", restriction="verification_required", builtin=True),
    VoiceRecord(id="builtin-blocked", name="Blocked", restriction="blocked", builtin=True),
)


class Emulator:
    """One sync. labs organisation. ``base_url`` is set by the server once it knows its port."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = FaultBook(self.config.faults)
        self._own_dir = self.config.data_dir is None
        self.data_dir = self.config.data_dir or Path(tempfile.mkdtemp(prefix="revoice-emulator-"))
        self.base_url = self.config.public_url or "http://127.0.0.1"
        self.lock = threading.RLock()
        self._signing_key = uuid.uuid4().hex.encode()
        self.files: dict[str, Path] = {}
        self.tickets: dict[str, Ticket] = {}
        self.assets: dict[str, dict[str, Any]] = {}
        self.voices: dict[str, VoiceRecord] = {}  # the org's clones (they hold its clone slots)
        self.tts_jobs: dict[str, TtsJobRecord] = {}
        self.generations: dict[str, GenerationRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, str | None]] = {}  # None: being answered
        self._windows: dict[str, deque[float]] = {}
        self.used_this_month: Counter[str] = Counter()  # "generations", "tts"
        self.clone_busy_until = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.webhook_log: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self.requests = 0
        self.errors_answered: Counter[str] = Counter()  # by errorCode, the emulated API's own refusals
        from revoice_local.emulator.app import build  # the endpoints need the organisation they serve

        self.app = build(self)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- limits ----------------------------------------------------------------------------------

    def rate(self, group: str, limit: int, window: float) -> None:
        """Count a request against ``group``; 429 rate_limit_exceeded past ``limit`` per ``window``.

        The rate-limit pages document the body only; ``rate_limit_hints`` adds Retry-After and
        ``retryAfterSeconds`` as other pages show them."""
        window = self.config.scaled(window)
        now = time.monotonic()
        with self.lock:
            hits = self._windows.setdefault(group, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                wait = hits[0] + window - now
                hints = self.config.rate_limit_hints
                raise ApiError(
                    "rate_limit_exceeded",
                    f"Too many requests to {group}; slow down",
                    headers={"Retry-After": str(max(1, round(wait)))} if hints else None,
                    retryAfterSeconds=round(wait, 3) if hints else None,
                )
            hits.append(now)

    def use_monthly(self, what: str, allowance: int | None) -> None:
        """One more of the plan's monthly ``what``; 402 Payment Required once they are used up."""
        with self.lock:
            if allowance is not None and self.used_this_month[what] >= allowance:
                raise ApiError(
                    None,
                    f"This plan's {allowance} {what} a month are used up; upgrade the plan or wait for next month",
                    status=402,
                )
            self.used_this_month[what] += 1

    def in_flight(self) -> int:
        return sum(1 for g in self.generations.values() if g.status in RUNNING and g.batch_id is None)

    def cloning(self) -> bool:
        """A clone is being made right now (the next one would get voice_clone_busy)."""
        return time.monotonic() < self.clone_busy_until

    # -- voices ----------------------------------------------------------------------------------

    def listed_voices(self) -> list[VoiceRecord]:
        builtins = [
            VoiceRecord(id=i, name=n, voice_id=v, internal_voice_id=None, builtin=True) for i, n, v in BUILTIN_VOICES
        ]
        variants = list(LIST_VARIANTS) if self.config.voice_list_variants else []
        with self.lock:
            return builtins + variants + list(self.voices.values())

    def voice(self, voice_id: str) -> VoiceRecord | None:
        return next((v for v in self.listed_voices() if v.id == voice_id), None)

    # -- storage ---------------------------------------------------------------------------------

    def store_path(self, key: str) -> Path:
        path = self.data_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def stored(self, key: str) -> Path:
        """Record a file written to ``store_path(key)`` as part of the org's storage."""
        with self.lock:
            self.files[key] = self.data_dir / key
        return self.files[key]

    def storage_url(self, key: str) -> str:
        return f"{self.base_url}/{quote(key)}"

    def in_storage(self, url: str) -> bool:
        return url.startswith(self.base_url + "/")

    def signed(self, key: str, ttl: float) -> str:
        expires = int(time.time() + ttl)
        signature = hmac.new(self._signing_key, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{self.storage_url(key)}?expires={expires}&signature={signature}"

    def check_signed(self, key: str, request: Request) -> bool:
        expires, signature = request.query_params.get("expires", ""), request.query_params.get("signature", "")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        expected = hmac.new(self._signing_key, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def resolve_storage_url(self, url: str) -> Path:
        """A file in this org's storage, or the documented error for a URL that is not one."""
        if not self.in_storage(url):
            raise ApiError("file_not_in_org_storage")
        key = unquote(urlsplit(url).path).lstrip("/")
        with self.lock:
            path = self.files.get(key)
        if path is None or not path.exists():
            raise ApiError("uploaded_file_not_found")
        return path

    # -- requests --------------------------------------------------------------------------------

    async def json_body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise ApiError.invalid("the body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise ApiError.invalid("the body must be a JSON object")
        return body

    def idempotent(self, scope: str, request: Request, body: dict[str, Any]) -> tuple[str | None, str]:
        """(the id an earlier identical request created, or None; the body's hash).

        A new key is claimed until ``remember``, or until the request fails inside ``making``: another
        request with it meanwhile (a retry, or a second caller, racing the first) is answered 503
        ``IDEMPOTENCY_OUTCOME_UNKNOWN`` without a ``generationId``, as the API answers while it cannot
        yet say, so the two never make two of a thing."""
        key = request.headers.get("idempotency-key")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is None:
            return None, digest
        if not IDEMPOTENCY_KEY.match(key):
            raise ApiError("INVALID_IDEMPOTENCY_KEY", field="Idempotency-Key")
        with self.lock:
            seen = self._idempotency.get((scope, key))
            if seen is None:
                self._idempotency[(scope, key)] = (digest, None)
                return None, digest
        if seen[0] != digest:
            raise ApiError("idempotency_key_conflict")
        if seen[1] is None:
            raise ApiError("IDEMPOTENCY_OUTCOME_UNKNOWN")
        return seen[1], digest

    def remember(self, scope: str, request: Request, digest: str, created: str) -> None:
        key = request.headers.get("idempotency-key")
        if key is not None:
            with self.lock:
                self._idempotency[(scope, key)] = (digest, created)

    @contextmanager
    def making(self, scope: str, request: Request) -> Iterator[None]:
        """Around the work of a request that claimed its key: if it makes nothing (it is refused), the
        key is let go, and the next request may use it."""
        try:
            yield
        except BaseException:
            key = request.headers.get("idempotency-key")
            with self.lock:
                if key is not None and self._idempotency.get((scope, key), ("", ""))[1] is None:
                    del self._idempotency[(scope, key)]
            raise
