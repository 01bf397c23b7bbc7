"""Versions built from others: `new_draft()`, `Artifact(..., incremental=True)`, and
distributed artifacts (`run.upsert_artifact` from several runs, `run.finish_artifact`).

`draft`: log v0 {a.txt}, a new_draft adding b.txt, an incremental artifact adding c.txt.
`upsert --part P`: one run of the group adds P.txt to the distributed version.
`finish`: one run finishes the distributed version.
`read`: every version of NAME with its files (downloaded, as text).
Each prints RESULT lines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("action", choices=["draft", "upsert", "finish", "read"])
parser.add_argument("--project", required=True)
parser.add_argument("--name", required=True)
parser.add_argument("--workdir", required=True)
parser.add_argument("--part")
parser.add_argument("--distributed-id", default="shard-job")
args = parser.parse_args()
work = Path(args.workdir)
work.mkdir(parents=True, exist_ok=True)


def result(value: dict[str, object]) -> None:
    print("RESULT " + json.dumps(value), flush=True)


def write(name: str) -> str:
    path = work / name
    path.write_text(f"contents of {name}\n")
    return str(path)


if args.action == "draft":
    with wandb.init(project=args.project, job_type="v0") as run:
        first = wandb.Artifact(args.name, type="dataset")
        first.add_file(write("a.txt"))
        run.log_artifact(first).wait()
    with wandb.init(project=args.project, job_type="draft") as run:
        draft = run.use_artifact(f"{args.name}:latest").new_draft()
        draft.add_file(write("b.txt"))
        result({"draft": run.log_artifact(draft).wait().version})
    with wandb.init(project=args.project, job_type="incremental") as run:
        more = wandb.Artifact(args.name, type="dataset", incremental=True)
        more.add_file(write("c.txt"))
        result({"incremental": run.log_artifact(more).wait().version})
elif args.action == "upsert":
    with wandb.init(project=args.project, group="shards", job_type="shard") as run:
        share = wandb.Artifact(args.name, type="dataset")
        share.add_file(write(f"{args.part}.txt"))
        run.upsert_artifact(share, distributed_id=args.distributed_id).wait()
        result({"upserted": args.part})
elif args.action == "finish":
    with wandb.init(project=args.project, group="shards", job_type="finish") as run:
        done = run.finish_artifact(
            wandb.Artifact(args.name, type="dataset"), distributed_id=args.distributed_id
        ).wait()
        result({"finished": done.version})
else:
    api = wandb.Api()
    versions = {}
    # Version by version (listing a collection is another feature's): v0, v1, ... until none.
    for index in range(10):
        try:
            version = api.artifact(f"{api.default_entity}/{args.project}/{args.name}:v{index}")
        except wandb.errors.CommError:
            break
        root = Path(version.download(root=str(work / "read" / version.version)))
        versions[version.version] = {
            p.relative_to(root).as_posix(): p.read_text()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
    result({"versions": versions})
