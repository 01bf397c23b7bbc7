"""Open the configured object store (a bucket, else the data dir) and its direct URLs."""

from __future__ import annotations

import re

from runyard.server.s3_store import S3Store
from runyard.server.settings import ServerSettings
from runyard.server.signing import DirectUrl
from runyard.server.storage import FilesystemStore, ObjectStore

# A run's virtual console (`output.log` made from file_stream lines) is no object: the
# server serves it from the database, so its URL stays the server's.
_SERVER_ONLY = re.compile(r"^runs/\d+/console/")


def open_store(settings: ServerSettings) -> ObjectStore:
    """The bucket when `s3_bucket` is set (checked now: bad settings fail the start)."""
    if not settings.s3_bucket:
        return FilesystemStore(settings.data_dir / "objects")
    store = S3Store(settings)
    store.check()
    return store


def direct_urls(store: ObjectStore) -> DirectUrl | None:
    """Presigned bucket URLs for GET and PUT of stored keys; None for the filesystem."""
    if not isinstance(store, S3Store):
        return None
    bucket = store

    def url(method: str, key: str) -> str | None:
        if _SERVER_ONLY.match(key):
            return None
        if method == "GET":
            return bucket.presigned_get(key)
        if method == "PUT":
            return bucket.presigned_put(key)[0]
        return None

    return url


def direct_store(store: ObjectStore) -> S3Store | None:
    """The bucket store when files go straight to a bucket, else None."""
    return store if isinstance(store, S3Store) else None
