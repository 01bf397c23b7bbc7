"""Download single entries of a logged artifact (`artifact.get_entry(name).download()`):
the client builds the file's URL itself (`/artifactsV2/...`) instead of asking the server.

`log`: log the files of `--src` as NAME. `get`: download each entry of NAME:latest one by one
and print RESULT {files: {name: text}} (run it with an empty WANDB_CACHE_DIR, or the client
serves the files it uploaded from its cache).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("action", choices=["log", "get"])
parser.add_argument("--project", required=True)
parser.add_argument("--name", required=True)
parser.add_argument("--src")
parser.add_argument("--dest")
args = parser.parse_args()

if args.action == "log":
    with wandb.init(project=args.project, job_type="log") as run:
        artifact = wandb.Artifact(args.name, type="dataset")
        artifact.add_dir(args.src)
        run.log_artifact(artifact).wait()
    raise SystemExit(0)

api = wandb.Api()
logged = api.artifact(f"{api.default_entity}/{args.project}/{args.name}:latest")
files = {}
for name in sorted(logged.manifest.entries):
    path = logged.get_entry(name).download(root=args.dest)
    files[name] = Path(path).read_text()
print("RESULT " + json.dumps({"files": files}), flush=True)
