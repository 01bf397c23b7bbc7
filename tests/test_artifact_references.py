"""Artifacts with reference entries: the client downloads what the version's files list,
so reference entries are listed with the stored files and the client fetches them itself."""

from __future__ import annotations

from pathlib import Path

from conftest import WandbClient, unique_project


def test_a_file_reference_is_listed_and_downloaded_sqlite(
    sqlite_client: WandbClient, tmp_path: Path
) -> None:
    result = sqlite_client.run(
        "artifact_reference.py", "--project", unique_project(), "--workdir", str(tmp_path / "w")
    )
    assert result.returncode == 0, result.stderr
    (found,) = result.results
    assert found["downloaded"] == {
        "stored.txt": "stored bytes",
        "referenced.txt": "referenced bytes",
    }
