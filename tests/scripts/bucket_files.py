"""Files through a server whose files live in a bucket: log them, then read them back.

`log`: a run saves `--dir`/model.bin with `wandb.save` and logs the artifact `data` (every
file of `--dir`/data); prints RESULT {"run_id"}.
`read`: `use_artifact("data:latest").download()` into `--into`/artifact and
`api.run(...).file("model.bin").download()` into `--into`/run; prints RESULT with both
folders and the size and MD5 the server reports for model.bin.
`download`: `api.artifact(--name).download()` into `--into`; prints RESULT {"dir"}.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("phase", choices=["log", "read", "download"])
parser.add_argument("--project", required=True)
parser.add_argument("--dir", default=None)
parser.add_argument("--run-id", default=None)
parser.add_argument("--into", default=None)
parser.add_argument("--name", default=None)
args = parser.parse_args()


def log() -> None:
    source = Path(args.dir)
    run = wandb.init(project=args.project)
    # wandb.save links the file into the run folder; the upload happens as the run goes on.
    shutil.copy(source / "model.bin", Path(run.dir) / "model.bin")
    wandb.save(str(Path(run.dir) / "model.bin"), base_path=run.dir, policy="now")
    artifact = wandb.Artifact("data", type="dataset")
    artifact.add_dir(str(source / "data"))
    run.log_artifact(artifact).wait()
    run.finish()
    print("RESULT " + json.dumps({"run_id": run.id}), flush=True)


def read() -> None:
    into = Path(args.into)
    run = wandb.init(project=args.project)
    folder = run.use_artifact("data:latest").download(root=str(into / "artifact"))
    run.finish()
    api = wandb.Api()
    entity = api.default_entity
    stored = api.run(f"{entity}/{args.project}/{args.run_id}")
    model = stored.file("model.bin")
    model.download(root=str(into / "run"), replace=True)
    result = {"artifact": folder, "run": str(into / "run"), "size": model.size, "md5": model.md5}
    print("RESULT " + json.dumps(result), flush=True)


def download() -> None:
    api = wandb.Api()
    artifact = api.artifact(f"{api.default_entity}/{args.project}/{args.name}")
    print("RESULT " + json.dumps({"dir": artifact.download(root=args.into)}), flush=True)


{"log": log, "read": read, "download": download}[args.phase]()
