"""Artifacts as a researcher uses them: log, use + download, and the public API.

Prints `RESULT {...}` JSON lines so tests can see what the client saw.
"""

import argparse
import json
import pathlib

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("action", choices=["log", "use", "public"])
parser.add_argument("--project", required=True)
parser.add_argument("--name", required=True, help="artifact name (log) or name:alias")
parser.add_argument("--src", help="directory whose files are logged")
parser.add_argument("--dest", help="where download() puts the files")
parser.add_argument("--alias", action="append", default=[])
parser.add_argument("--type", default="dataset")
args = parser.parse_args()


def listing(root: pathlib.Path) -> dict[str, str]:
    """Every file under root, by relative path, with its text."""
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


if args.action == "log":
    with wandb.init(project=args.project, job_type="produce") as run:
        artifact = wandb.Artifact(args.name, type=args.type, metadata={"rows": 2})
        artifact.add_dir(args.src)
        try:
            logged = run.log_artifact(artifact, aliases=args.alias or None)
            logged.wait()
        except Exception as exc:  # the client's own error is what the test checks
            print("RESULT " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        else:
            print("RESULT " + json.dumps({"version": logged.version, "digest": logged.digest}))
elif args.action == "use":
    with wandb.init(project=args.project, job_type="consume") as run:
        try:
            artifact = run.use_artifact(args.name)
        except Exception as exc:  # the client's own error is what the test checks
            print("RESULT " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        else:
            root = pathlib.Path(artifact.download(root=args.dest))
            print(
                "RESULT "
                + json.dumps(
                    {
                        "version": artifact.version,
                        "aliases": artifact.aliases,
                        "files": listing(root),
                    }
                )
            )
else:
    api = wandb.Api()
    try:
        artifact = api.artifact(f"{api.default_entity}/{args.project}/{args.name}")
    except Exception as exc:
        print("RESULT " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    else:
        root = pathlib.Path(artifact.download(root=args.dest))
        print(
            "RESULT "
            + json.dumps(
                {
                    "name": artifact.name,
                    "type": artifact.type,
                    "version": artifact.version,
                    "aliases": artifact.aliases,
                    "metadata": artifact.metadata,
                    "digest": artifact.digest,
                    "files": listing(root),
                }
            )
        )
