"""The public API's fields beyond logging, as a user reads them: a run's logged and used
artifacts, its user, sweep and metadata, the caller's projects and viewer, and jobs.

Steps:
  produce PROJECT SRC     a run that logs artifact `ds` (files of SRC); prints its run id
  consume PROJECT         a run that uses `ds:latest` and logs `model`; prints its run id
  read ENTITY/PROJECT/ID  what wandb.Api() shows of the run
  projects ENTITY         api.projects(ENTITY) names, and api.viewer
  jobs ENTITY PROJECT     api.list_jobs(ENTITY, PROJECT) as `wandb job list` reads it
  ci PROJECT NAME SHA TAGS ACC  a CI training run NAME: config.github_sha=SHA (`-` for none), tags
                          comma-separated (`-` for none), summary accuracy=ACC, loss=1-ACC
Prints `RESULT {...}` JSON lines so tests can see what the client saw.
"""

import argparse
import json
import tempfile

import wandb


def emit(**values: object) -> None:
    """One RESULT line."""
    print("RESULT " + json.dumps(values, default=str), flush=True)


def artifact_names(artifacts: object) -> list[str]:
    """`name:vN` and type of each artifact of a paginator."""
    return [f"{a.name}|{a.type}" for a in artifacts]  # type: ignore[attr-defined]


parser = argparse.ArgumentParser()
parser.add_argument("step", choices=["produce", "consume", "read", "projects", "jobs", "ci"])
parser.add_argument("args", nargs="*")
args = parser.parse_args()

if args.step == "produce":
    project, src = args.args
    with wandb.init(project=project, config={"lr": 0.1}) as run:
        artifact = wandb.Artifact("ds", type="dataset")
        artifact.add_dir(src)
        run.log_artifact(artifact).wait()
        run.log({"loss": 0.5})
        emit(id=run.id, entity=run.entity)
elif args.step == "consume":
    (project,) = args.args
    with wandb.init(project=project) as run:
        run.use_artifact("ds:latest").download(tempfile.mkdtemp())
        model = wandb.Artifact("model", type="model")
        with model.new_file("weights.txt") as handle:
            handle.write("w=1\n")
        run.log_artifact(model).wait()
        emit(id=run.id, entity=run.entity)
elif args.step == "read":
    (path,) = args.args
    run = wandb.Api(timeout=30).run(path)
    user = run.user
    emit(
        logged=artifact_names(run.logged_artifacts()),
        used=artifact_names(run.used_artifacts()),
        logged_per_page_1=artifact_names(run.logged_artifacts(per_page=1)),
        user={"username": user.username, "name": user.name} if user else None,
        sweep=run.sweep,
        metadata=run.metadata,
    )
elif args.step == "projects":
    (entity,) = args.args
    api = wandb.Api(timeout=30)
    viewer = api.viewer
    emit(
        projects=[p.name for p in api.projects(entity)],
        viewer={"username": viewer.username, "entity": viewer.entity},
    )
elif args.step == "ci":
    project, name, sha, tags, acc = args.args
    config = {} if sha == "-" else {"github_sha": sha}
    with wandb.init(
        project=project,
        name=name,
        config=config,
        tags=[] if tags == "-" else tags.split(","),
    ) as run:
        run.log({"accuracy": float(acc), "loss": round(1 - float(acc), 3)})
        emit(id=run.id, name=run.name, entity=run.entity)
elif args.step == "jobs":
    entity, project = args.args
    jobs = wandb.Api(timeout=30).list_jobs(entity, project)
    emit(
        jobs=[
            {
                "name": job["edges"][0]["node"]["artifactSequence"]["name"],
                "aliases": [
                    sorted(a["alias"] for a in version["node"]["aliases"])
                    for version in job["edges"]
                ],
                "states": [version["node"]["state"] for version in job["edges"]],
            }
            for job in jobs
            if job["edges"]
        ]
    )
