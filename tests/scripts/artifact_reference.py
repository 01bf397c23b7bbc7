"""Log an artifact holding a stored file and a `file://` reference, then download it.

Prints RESULT with the downloaded files and their contents.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--workdir", required=True)
args = parser.parse_args()

work = Path(args.workdir)
work.mkdir(parents=True, exist_ok=True)
stored = work / "stored.txt"
stored.write_text("stored bytes")
referenced = work / "referenced.txt"
referenced.write_text("referenced bytes")

artifact = wandb.Artifact("refs", type="dataset")
artifact.add_file(str(stored))
artifact.add_reference(referenced.resolve().as_uri())
with wandb.init(project=args.project, job_type="log") as run:
    run.log_artifact(artifact, aliases=["refs"])

with wandb.init(project=args.project, job_type="use") as run:
    used = run.use_artifact("refs:refs")
    root = Path(used.download(root=str(work / "download")))

print(
    "RESULT " + json.dumps({"downloaded": {p.name: p.read_text() for p in sorted(root.iterdir())}}),
    flush=True,
)
