"""The artifacts the artifact-browser test looks at, logged with the official client.

A producing run logs dataset `raw` twice (v1 with aliases, metadata and a description that
carry markup) and dataset `clean` once; a consuming run uses `raw:v1` and logs model `net`.
Prints `RESULT {...}` with the runs' ids and what each logged version is.
"""

import argparse
import json
import pathlib

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--root", required=True, help="a scratch directory for the files")
parser.add_argument("--producer", required=True, help="id of the producing run")
parser.add_argument("--consumer", required=True, help="id of the consuming run")
args = parser.parse_args()
root = pathlib.Path(args.root)

MARKUP_ALIAS = "<img src=x onerror=alert(1)>"


def write(name: str, files: dict[str, str]) -> pathlib.Path:
    """A directory holding `files` (relative path → text)."""
    folder = root / name
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


logged: dict[str, dict[str, object]] = {}


def log(run: wandb.sdk.wandb_run.Run, artifact: wandb.Artifact, aliases: list[str]) -> None:
    """Log and wait, remembering the version and digest under `name:version`."""
    done = run.log_artifact(artifact, aliases=aliases or None)
    done.wait()
    logged[f"{done.name}"] = {"type": done.type, "digest": done.digest, "aliases": aliases}


with wandb.init(
    project=args.project, id=args.producer, name="<b>producer</b>", job_type="prepare"
) as run:
    raw0 = wandb.Artifact("raw", type="dataset")
    raw0.add_dir(str(write("raw0", {"a.txt": "first\n"})))
    log(run, raw0, [])
    raw1 = wandb.Artifact(
        "raw",
        type="dataset",
        description="<i>cleaned</i> rows",
        metadata={"rows": 3, "source": {"url": "https://example.com/<script>x</script>"}},
    )
    raw1.add_dir(str(write("raw1", {"a.txt": "second\n", "sub/b.csv": "x,y\n1,2\n3,4\n"})))
    log(run, raw1, ["best", MARKUP_ALIAS])
    clean = wandb.Artifact("clean", type="dataset")
    clean.add_dir(str(write("clean", {"c.txt": "clean\n"})))
    log(run, clean, [])

with wandb.init(project=args.project, id=args.consumer, name="consumer", job_type="train") as run:
    run.use_artifact("raw:v1")
    net = wandb.Artifact("net", type="model", metadata={"layers": 4})
    net.add_dir(str(write("net", {"weights.bin": "0123456789" * 100})))
    log(run, net, ["candidate"])

print("RESULT " + json.dumps(logged))
