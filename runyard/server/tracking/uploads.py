"""What the server records once an upload's bytes are stored: run files and artifact files."""

from __future__ import annotations

import base64

from runyard.server.tracking.artifact_files import record_artifact_upload
from runyard.server.tracking.files import record_upload
from runyard.server.unit_of_work import UnitOfWork


def record_stored_object(uow: UnitOfWork, key: str, size: int, md5_hex: str) -> None:
    """Mark the run file or artifact file stored under `key` as uploaded.

    Each record is a short write transaction of its own, taken after the bytes are stored.
    """
    record_upload(uow.state.write_sessions, key, size, md5_hex)
    md5_b64 = base64.b64encode(bytes.fromhex(md5_hex)).decode()
    record_artifact_upload(uow.state.write_sessions, key, size, md5_b64)
