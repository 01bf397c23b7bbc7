"""Artifact edits as a researcher makes them: a JSON list of steps run in one process.

Steps: log, get, edit, use, delete, hold (keep a fetched version for a later step),
collection (read or edit a collection), delete_collection. Each
prints `RESULT {...}`: what the client saw, or {"error": ...} with the client's own error.
"""

import argparse
import datetime
import json
import pathlib

import wandb
from wandb.sdk.artifacts.artifact_ttl import ArtifactTTL

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--steps", required=True, help="JSON list of steps")
parser.add_argument("--tmp", required=True, help="scratch directory")
args = parser.parse_args()

tmp = pathlib.Path(args.tmp)
held = {}
state = {"run": None}


def api():
    return wandb.Api()


def path(name):
    return f"{api().default_entity}/{args.project}/{name}"


def run():
    if state["run"] is None:
        state["run"] = wandb.init(project=args.project, job_type="edit")
    return state["run"]


def ttl_value(value):
    if value == "none":
        return None
    if value == "inherit":
        return ArtifactTTL.INHERIT
    return datetime.timedelta(seconds=value)


def seconds(artifact):
    try:
        ttl = artifact.ttl
    except Exception as exc:  # an inherited TTL the client cannot show
        return f"{type(exc).__name__}"
    return None if ttl is None else int(ttl.total_seconds())


def describe(artifact):
    return {
        "version": artifact.version,
        "aliases": sorted(artifact.aliases),
        "tags": sorted(artifact.tags),
        "description": artifact.description,
        "metadata": artifact.metadata,
        "ttl": seconds(artifact),
        "state": artifact.state,
    }


def listing(root):
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def do(step, index):
    kind = step["do"]
    if kind == "log":
        src = tmp / f"src-{index}"
        for name, text in step["files"].items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        artifact = wandb.Artifact(step["name"], type="dataset")
        artifact.add_dir(str(src))
        if "ttl" in step:
            artifact.ttl = ttl_value(step["ttl"])
        logged = run().log_artifact(artifact, aliases=step.get("aliases"), tags=step.get("tags"))
        logged.wait()
        return {"version": logged.version, "id": logged.id, "run": run().id}
    if kind == "get":
        return describe(api().artifact(path(step["name"])))
    if kind == "hold":
        held[step["as"]] = api().artifact(path(step["name"]))
        return {"held": step["as"]}
    if kind == "edit":
        artifact = held[step["held"]] if "held" in step else api().artifact(path(step["name"]))
        for alias in step.get("add_aliases", []):
            artifact.aliases.append(alias)
        for alias in step.get("remove_aliases", []):
            artifact.aliases.remove(alias)
        if "description" in step:
            artifact.description = step["description"]
        if "metadata" in step:
            artifact.metadata = step["metadata"]
        if "tags" in step:
            artifact.tags = step["tags"]
        if "ttl" in step:
            artifact.ttl = ttl_value(step["ttl"])
        artifact.save()
        return describe(artifact)
    if kind == "use":
        artifact = run().use_artifact(step["name"])
        root = pathlib.Path(artifact.download(root=str(tmp / f"dl-{index}")))
        return {"version": artifact.version, "files": listing(root)}
    if kind == "delete":
        artifact = held[step["held"]] if "held" in step else api().artifact(path(step["name"]))
        artifact.delete(delete_aliases=step.get("delete_aliases", False))
        return {"deleted": step.get("name") or step["held"]}
    if kind == "collection":
        # Read (and with any of description/tags given, edit and save) a collection.
        collection = api().artifact_collection(step.get("type", "dataset"), path(step["name"]))
        if "description" in step:
            collection.description = step["description"]
        if "tags" in step:
            collection.tags = step["tags"]
        if "description" in step or "tags" in step:
            collection.save()
            collection = api().artifact_collection(step.get("type", "dataset"), path(step["name"]))
        return {
            "name": collection.name,
            "description": collection.description,
            "tags": sorted(collection.tags),
            "versions": [a.version for a in collection.artifacts()],
        }
    if kind == "delete_collection":
        api().artifact_collection(step.get("type", "dataset"), path(step["name"])).delete()
        return {"deleted": step["name"]}
    raise ValueError(f"unknown step {kind!r}")


for i, step in enumerate(json.loads(args.steps)):
    try:
        result = do(step, i)
    except Exception as exc:  # the client's own error is what the test checks
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print("RESULT " + json.dumps(result), flush=True)

if state["run"] is not None:
    state["run"].finish()
