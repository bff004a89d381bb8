"""The sync. labs v2 API: a typed client, its errors, retry policy and webhook signatures."""

from revoice.sync.client import SyncClient
from revoice.sync.errors import SyncApiError, SyncError, SyncJobFailed, SyncTransportError, WebhookVerificationError

__all__ = ["SyncApiError", "SyncClient", "SyncError", "SyncJobFailed", "SyncTransportError", "WebhookVerificationError"]
