"""The Registry as a W&B user drives it: create registries, link versions, search, use.

Prints `RESULT {...}` JSON lines so tests can see what the client saw; a client error is
reported as `{"error": ...}` with the causes it chains (the server's message is in them).
"""

import argparse
import json
import pathlib
import traceback

import wandb

parser = argparse.ArgumentParser()
parser.add_argument(
    "action",
    choices=[
        "create",
        "get",
        "list",
        "link",
        "link_model",
        "use_model",
        "search",
        "artifact",
        "members",
        "edit_collections",
        "collection",
        "update",
        "delete",
        "unlink",
        "delete_run",
    ],
)
parser.add_argument("--project", default="registry-src")
parser.add_argument("--name", default="")
parser.add_argument("--visibility", default="organization")
parser.add_argument("--description")
parser.add_argument("--types", default="")
parser.add_argument("--src", help="directory whose files are logged")
parser.add_argument("--dest", help="where use_model downloads")
parser.add_argument("--type", default="model")
parser.add_argument(
    "--target", action="append", default=[], help="TARGET[=alias,alias] to link into"
)
parser.add_argument("--aliases", default="")
parser.add_argument("--registry-filter")
parser.add_argument("--collection-filter")
parser.add_argument("--version-filter")
parser.add_argument("--user", action="append", default=[], help="USERNAME[=role] to add")
parser.add_argument("--tags", default="", help="tags to give collections")
parser.add_argument("--team", action="append", default=[], help="TEAM[=role] to add")
args = parser.parse_args()


def report(value: object) -> None:
    print("RESULT " + json.dumps(value))


def error(exc: BaseException) -> dict[str, str]:
    """The client's error with every cause it chains."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    where = traceback.format_exception(exc)[-4:]
    return {"error": " <- ".join(parts), "trace": "".join(where)}


def describe(artifact: wandb.Artifact) -> dict[str, object]:
    return {
        "name": artifact.name,
        "qualified_name": artifact.qualified_name,
        "version": artifact.version,
        "aliases": sorted(artifact.aliases),
        "type": artifact.type,
        "source_name": artifact.source_name,
        "is_link": artifact.is_link,
        "metadata": artifact.metadata,
    }


def listing(root: pathlib.Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def registry_view(registry: object) -> dict[str, object]:
    return {
        "name": registry.name,
        "full_name": registry.full_name,
        "entity": registry.entity,
        "organization": registry.organization,
        "description": registry.description,
        "visibility": registry.visibility,
        "allow_all_artifact_types": registry.allow_all_artifact_types,
        "artifact_types": sorted(registry.artifact_types),
    }


def parse(text: str | None) -> object:
    return json.loads(text) if text else None


api = wandb.Api()
try:
    if args.action == "create":
        types = [t for t in args.types.split(",") if t] or None
        made = api.create_registry(
            name=args.name,
            visibility=args.visibility,
            description=args.description,
            artifact_types=types,
        )
        report(registry_view(made))
    elif args.action == "get":
        report(registry_view(api.registry(args.name)))
    elif args.action == "list":
        found = api.registries(filter=parse(args.registry_filter))
        # Clients before 0.20 name registries with their `wandb-registry-` prefix.
        report({"registries": sorted(r.name.removeprefix("wandb-registry-") for r in found)})
    elif args.action == "link":
        with wandb.init(project=args.project, job_type="train") as run:
            model = wandb.Artifact(args.name, type=args.type, metadata={"accuracy": 0.93})
            model.add_dir(args.src)
            logged = run.log_artifact(model)
            logged.wait()
            made = []
            for target in args.target:
                path, _, aliases = target.partition("=")
                names = [a for a in aliases.split(",") if a]
                made.append((run.link_artifact(logged, path, aliases=names), path, names))
        # Clients before 0.20 link in the background and return nothing; finishing the run
        # waits for their links, so read them back now (a refused link reads as before).
        links = [
            describe(linked or api.artifact(f"{path}:{names[0] if names else 'latest'}"))
            for linked, path, names in made
        ]
        report({"logged": describe(logged), "links": links})
    elif args.action == "link_model":
        with wandb.init(project=args.project, job_type="train") as run:
            linked = run.link_model(
                args.src,
                registered_model_name=args.name,
                name="legacy-model",
                aliases=[a for a in args.aliases.split(",") if a],
            )
            entity, run_path = run.entity, f"{run.entity}/{run.project}/{run.id}"
        # As for `link`: older clients link in the background, done once the run finished.
        linked = linked or api.artifact(f"{entity}/model-registry/{args.name}:latest")
        report({"linked": describe(linked), "run": run_path})
    elif args.action == "use_model":
        with wandb.init(project=args.project, job_type="eval") as run:
            path = pathlib.Path(run.use_model(args.name))
            root = path if path.is_dir() else path.parent
            artifact = api.artifact(args.name)
            report({"files": listing(root), "artifact": describe(artifact)})
    elif args.action == "members":
        registry = api.registry(args.name)
        if not hasattr(registry, "add_members"):  # clients before 0.23 cannot manage members
            report({"unsupported": wandb.__version__})
            raise SystemExit(0)
        for spec in args.user:
            username, _, role = spec.partition("=")
            user = api.user(username)
            registry.add_members(user)
            if role:
                registry.update_member(user, role)
        for spec in args.team:
            team_name, _, role = spec.partition("=")
            team = api.team(team_name)
            registry.add_members(team)
            if role:
                registry.update_member(team, role)
        report(
            {
                "users": sorted([m.user.username, str(m.role)] for m in registry.user_members()),
                "teams": sorted([m.team.name, str(m.role)] for m in registry.team_members()),
            }
        )
    elif args.action == "edit_collections":
        edited = []
        for collection in api.registry(args.name).collections():
            collection.description = args.description
            collection.tags = [t for t in args.tags.split(",") if t]
            collection.save()
            edited.append(collection.name)
        again = api.registry(args.name).collections()
        report(
            {
                "edited": sorted(edited),
                "now": sorted([c.name, c.description, sorted(c.tags)] for c in again),
            }
        )
    elif args.action == "collection":
        found = api.artifact_collection(args.type, args.name)
        report(
            {
                "name": found.name,
                "description": found.description,
                "tags": sorted(found.tags),
                "aliases": sorted(found.aliases),
                "versions": sorted(
                    [a.name, a.source_name, sorted(a.aliases)] for a in found.artifacts()
                ),
            }
        )
    elif args.action == "update":
        registry = api.registry(args.name)
        registry.description = args.description
        registry.visibility = args.visibility
        registry.save()
        report(registry_view(api.registry(args.name)))
    elif args.action == "delete":
        api.registry(args.name).delete()
        try:
            api.registry(args.name)
        except ValueError as exc:
            report({"deleted": True, "after": str(exc)})
        else:
            report({"deleted": False})
    elif args.action == "unlink":
        api.artifact(args.name).unlink()
        report({"unlinked": args.name})
    elif args.action == "delete_run":
        api.run(args.name).delete(delete_artifacts=True)
        report({"deleted": args.name})
    elif args.action == "artifact":
        report(describe(api.artifact(args.name)))
    elif args.action == "search":
        registries = api.registries(filter=parse(args.registry_filter))
        if args.version_filter is not None or not args.collection_filter:
            versions = registries.versions(filter=parse(args.version_filter))
            found = [
                {
                    "collection": v.name.split(":")[0],
                    "project": v.project,
                    "version": v.version,
                    "aliases": sorted(v.aliases),
                    "source": v.source_name,
                }
                for v in versions
            ]
        else:
            collections = registries.collections(filter=parse(args.collection_filter))
            found = [
                {"collection": c.name, "project": c.project, "type": c.type, "tags": c.tags}
                for c in collections
            ]
        report({"found": sorted(found, key=json.dumps)})
except Exception as exc:  # the client's own error is what the test checks
    report(error(exc))
