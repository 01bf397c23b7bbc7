"""Artifact listings and lineage as a researcher reads them with the public API.

`seed` logs TYPES x COLLECTIONS x VERSIONS artifacts with two runs: the producer logs v0 and v1
of every collection, the consumer uses a few of those and logs v2 and v3. `list` reads every
listing with a small page size, `lineage` reads logged_by/used_by and the runs' artifacts,
`missing` reads listings of things that do not exist. Prints `RESULT {...}` JSON lines.
"""

import argparse
import inspect
import json
import pathlib
import tempfile

import wandb

TYPES = ["dataset", "model", "eval"]
COLLECTIONS = 3
VERSIONS = 4
# What the consumer run uses (collection, version) before it logs v2 and v3.
USED = ["dataset-c0:v1", "model-c1:v0", "eval-c2:v1"]

parser = argparse.ArgumentParser()
parser.add_argument("action", choices=["seed", "list", "lineage", "missing", "run"])
parser.add_argument("--project", required=True)
parser.add_argument("--entity", help="run: the entity the run logs to")
parser.add_argument("--use", action="append", default=[], help="run: a full artifact path")
parser.add_argument("--log", help="run: the name of a dataset to log")
parser.add_argument("--per-page", type=int, default=2)
args = parser.parse_args()


def collections() -> list[tuple[str, str]]:
    """Every (type, collection name) the seed logs."""
    return [(kind, f"{kind}-c{c}") for kind in TYPES for c in range(COLLECTIONS)]


def log_versions(run: "wandb.sdk.wandb_run.Run", versions: range, work: pathlib.Path) -> list:
    """Log the given versions of every collection; each version has its own contents."""
    logged = []
    for kind, name in collections():
        for version in versions:
            src = work / f"{name}-v{version}"
            src.mkdir(parents=True)
            (src / "data.txt").write_text(f"{kind}/{name}/v{version}\n")
            artifact = wandb.Artifact(
                name, type=kind, description=f"{name} v{version}", metadata={"index": version}
            )
            artifact.add_dir(str(src))
            aliases = ["best"] if version == 1 else None
            done = run.log_artifact(artifact, aliases=aliases)
            done.wait()
            logged.append({"name": f"{name}:{done.version}", "type": kind, "digest": done.digest})
    return logged


def describe(artifact: "wandb.Artifact") -> dict:
    """What a listing says about one version."""
    return {
        "name": artifact.name,
        "type": artifact.type,
        "version": artifact.version,
        "digest": artifact.digest,
        "aliases": sorted(artifact.aliases),
        "size": artifact.size,
        "description": artifact.description,
        "metadata": artifact.metadata,
        "ttl": None if artifact.ttl is None else str(artifact.ttl),
        "created_at": bool(artifact.created_at),
        "updated_at": bool(artifact.updated_at),
    }


def seed() -> None:
    work = pathlib.Path(tempfile.mkdtemp())
    with wandb.init(project=args.project, job_type="produce") as producer:
        logged = log_versions(producer, range(0, 2), work)
        producer_id = producer.id
    with wandb.init(project=args.project, job_type="consume") as consumer:
        for name in USED:
            consumer.use_artifact(name)
        logged += log_versions(consumer, range(2, VERSIONS), work)
        consumer_id = consumer.id
    print(
        "RESULT " + json.dumps({"logged": logged, "producer": producer_id, "consumer": consumer_id})
    )


def listings() -> None:
    api = wandb.Api()
    path = f"{api.default_entity}/{args.project}"
    per_page = args.per_page
    types = [t.name for t in api.artifact_types(path)]
    one_type = api.artifact_type("model", path)
    found: dict = {"types": types, "type": one_type.name, "collections": {}, "artifacts": {}}
    found["type_collections"] = sorted(c.name for c in one_type.collections(per_page=per_page))
    for kind in types:
        listed = api.artifact_collections(path, kind, per_page=per_page)
        names = [c.name for c in listed]
        found["collections"][kind] = names
        for name in names:
            versions = api.artifacts(kind, f"{path}/{name}", per_page=per_page)
            found["artifacts"][name] = [describe(a) for a in versions]
    collection = api.artifact_collection("eval", f"{path}/eval-c1")
    found["collection"] = {
        "name": collection.name,
        "type": collection.type,
        "versions": [a.name for a in collection.artifacts(per_page=per_page)],
        "aliases": sorted(collection.aliases),
        "exists": api.artifact_collection_exists(f"{path}/eval-c1", "eval"),
        "missing_exists": api.artifact_collection_exists(f"{path}/nope", "eval"),
        "artifact_exists": api.artifact_exists(f"{path}/eval-c1:v3"),
        "artifact_missing": api.artifact_exists(f"{path}/eval-c1:v9"),
    }
    # Filters and order (newer clients; 0.22.3 takes neither).
    if "filters" in inspect.signature(one_type.collections).parameters:
        filtered = one_type.collections(
            filters={"name": {"$regex": "c[01]$"}}, order="+name", per_page=1
        )
        found["filtered"] = [c.name for c in filtered]
        oldest_first = api.artifacts("model", f"{path}/model-c0", order="+createdAt", per_page=3)
        found["oldest_first"] = [a.version for a in oldest_first]
    # The files of one version, read through the membership (0.22.3 and newer).
    version = api.artifact(f"{path}/dataset-c2:v1")
    found["files"] = sorted(f.name for f in version.files())
    print("RESULT " + json.dumps(found))


def lineage() -> None:
    api = wandb.Api()
    path = f"{api.default_entity}/{args.project}"
    per_page = args.per_page
    found: dict = {"logged_by": {}, "used_by": {}, "runs": {}}
    for kind, name in collections():
        for version in range(VERSIONS):
            artifact = api.artifact(f"{path}/{name}:v{version}", type=kind)
            creator = artifact.logged_by()
            found["logged_by"][artifact.name] = creator.id if creator else None
            found["used_by"][artifact.name] = sorted(r.id for r in artifact.used_by())
    for run in api.runs(path):
        found["runs"][run.id] = {
            "logged": [a.name for a in run.logged_artifacts(per_page=per_page)],
            "used": [a.name for a in run.used_artifacts(per_page=per_page)],
        }
    print("RESULT " + json.dumps(found))


def missing() -> None:
    api = wandb.Api()
    path = f"{api.default_entity}/{args.project}"
    attempts = {
        "types_of_missing_project": lambda: [t.name for t in api.artifact_types(f"{path}-nope")],
        "collections_of_missing_type": lambda: [
            c.name for c in api.artifact_collections(path, "nope")
        ],
        "collections_of_missing_project": lambda: [
            c.name for c in api.artifact_collections(f"{path}-nope", "model")
        ],
        "missing_type": lambda: api.artifact_type("nope", path).name,
        "missing_collection": lambda: api.artifact_collection("model", f"{path}/nope").name,
        "versions_of_missing_collection": lambda: [
            a.name for a in api.artifacts("model", f"{path}/nope")
        ],
    }
    found = {}
    for key, attempt in attempts.items():
        try:
            found[key] = {"value": attempt()}
        except Exception as exc:  # the client's own error is what the test checks
            found[key] = {"error": f"{type(exc).__name__}: {exc}"}
    print("RESULT " + json.dumps(found))


def one_run() -> None:
    """One run that uses `--use` artifacts and logs `--log` (a one-file dataset)."""
    with wandb.init(entity=args.entity, project=args.project) as run:
        for path in args.use:
            run.use_artifact(path)
        if args.log:
            src = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
            src.write_text(f"{args.entity}/{args.project}/{args.log}\n")
            artifact = wandb.Artifact(args.log, type="dataset")
            artifact.add_file(str(src))
            run.log_artifact(artifact).wait()
        print("RESULT " + json.dumps({"id": run.id}))


ACTIONS = {"seed": seed, "list": listings, "lineage": lineage, "missing": missing, "run": one_run}
ACTIONS[args.action]()
