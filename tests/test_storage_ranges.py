"""Byte ranges straight from the filesystem store: only the asked bytes are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.server.storage import FilesystemStore

DATA = bytes(range(256)) * 1024  # 256 KiB: ranges cross the store's 64 KiB chunks


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    store = FilesystemStore(tmp_path)
    store.put_bytes("exports/run.parquet", DATA)
    return store


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 0), (65_530, 65_545), (100_000, None), (len(DATA) - 8, len(DATA) - 1)],
)
def test_a_range_yields_exactly_its_bytes(
    store: FilesystemStore, start: int, end: int | None
) -> None:
    got = b"".join(store.open_chunks("exports/run.parquet", start, end))
    assert got == DATA[start : None if end is None else end + 1]


def test_the_size_comes_without_reading_and_none_when_absent(store: FilesystemStore) -> None:
    assert store.size("exports/run.parquet") == len(DATA)
    assert store.size("exports/missing.parquet") is None
