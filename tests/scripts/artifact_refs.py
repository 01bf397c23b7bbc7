"""Reference artifacts as a researcher uses them: log a reference, download it.

`log`: log an artifact holding one reference (`--ref URI`, `--no-checksum` for
`checksum=False`); prints RESULT {version, digest, entries} or {error}.
`download`: download NAME:ALIAS; prints RESULT {version, files (base64)} or {error}.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("action", choices=["log", "download"])
parser.add_argument("--project", required=True)
parser.add_argument("--name", required=True, help="artifact name (log) or name:alias")
parser.add_argument("--ref", help="the URI to reference")
parser.add_argument("--no-checksum", action="store_true")
parser.add_argument("--dest", help="where download() puts the files")
args = parser.parse_args()


def result(value: dict[str, object]) -> None:
    print("RESULT " + json.dumps(value), flush=True)


if args.action == "log":
    artifact = wandb.Artifact(args.name, type="dataset")
    try:
        artifact.add_reference(args.ref, checksum=not args.no_checksum)
    except Exception as exc:  # what the user sees is what the test checks
        result({"error": f"{type(exc).__name__}: {exc}", "stage": "add_reference"})
        raise SystemExit(0) from None
    with wandb.init(project=args.project, job_type="log") as run:
        logged = run.log_artifact(artifact)
        logged.wait()
        entries = {
            path: {"ref": e.ref, "digest": e.digest, "size": e.size}
            for path, e in logged.manifest.entries.items()
        }
        result({"version": logged.version, "digest": logged.digest, "entries": entries})
else:
    with wandb.init(project=args.project, job_type="use") as run:
        used = run.use_artifact(args.name)
        try:
            root = Path(used.download(root=args.dest))
        except Exception as exc:  # what the user sees is what the test checks
            result({"version": used.version, "error": f"{type(exc).__name__}: {exc}"})
        else:
            files = {
                p.relative_to(root).as_posix(): base64.b64encode(p.read_bytes()).decode()
                for p in sorted(root.rglob("*"))
                if p.is_file()
            }
            result({"version": used.version, "files": files})
