"""The sync. labs v2 API: a typed client, its errors, retry policy and webhook signatures.

Exports load on first use, so a handler that only needs the error types does not import httpx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revoice.sync.client import SyncClient as SyncClient
    from revoice.sync.errors import SyncApiError as SyncApiError
    from revoice.sync.errors import SyncError as SyncError
    from revoice.sync.errors import SyncJobFailed as SyncJobFailed
    from revoice.sync.errors import SyncTransportError as SyncTransportError
    from revoice.sync.errors import WebhookVerificationError as WebhookVerificationError

__all__ = ["SyncApiError", "SyncClient", "SyncError", "SyncJobFailed", "SyncTransportError", "WebhookVerificationError"]
_MODULES = {name: "revoice.sync.client" if name == "SyncClient" else "revoice.sync.errors" for name in __all__}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'revoice.sync' has no attribute {name!r}")
    return getattr(import_module(_MODULES[name]), name)
