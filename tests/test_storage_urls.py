"""Capability URLs: a signed URL uploads and downloads without credentials; nothing else does."""

from __future__ import annotations

import httpx

from conftest import unique_project
from support.server import LiveServer

UPSERT = """
mutation Upsert($project: String) {
  upsertBucket(input: {name: "r", modelName: $project}) { inserted }
}
"""
FILES = """
mutation Files($project: String!) {
  createRunFiles(input: {entityName: "admin", projectName: $project, runName: "r",
                         files: ["notes.txt"]}) {
    files { name uploadUrl }
  }
}
"""


def test_a_signed_url_uploads_and_downloads_and_a_forged_one_is_refused(
    server: LiveServer,
) -> None:
    project = unique_project()
    with server.api() as api:
        made = api.post("/graphql", json={"query": UPSERT, "variables": {"project": project}})
        assert made.json()["data"]["upsertBucket"]["inserted"] is True
        created = api.post("/graphql", json={"query": FILES, "variables": {"project": project}})
        upload_url = created.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]
    with httpx.Client() as anonymous:
        forged = anonymous.put(upload_url.replace("sig=", "sig=0"), content=b"hello")
        assert forged.status_code == 403 and "signature" in forged.json()["detail"]
        assert anonymous.put(upload_url, content=b"hello").status_code == 200
    with server.api() as api:
        listed = api.get(f"/api/v1/runs/admin/{project}/r/files").json()
    assert [(f["name"], f["uploaded"], f["size"]) for f in listed] == [("notes.txt", True, 5)]
    download_url = listed[0]["url"]
    with httpx.Client() as anonymous:
        assert anonymous.get(download_url).content == b"hello"
        unsigned = anonymous.get(download_url.split("?")[0])
        assert unsigned.status_code == 403
