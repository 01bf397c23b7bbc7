"""Automations with the official client: create one with `wandb.automations`, then trigger it.

Modes (`--mode`):
- alias: log `model` v0, create an automation on alias `production` of that collection
  (`--scope project`: of any collection in the project) that calls the named webhook
  integration, list it back, then log v1 with alias `production`;
- metric-setup: create a metric-threshold automation on the project (`loss < 0.1`) that
  calls the webhook; metric-log: log `--losses` to the run `falling` (resumed if it exists);
- alert: send `--repeat` alerts with one title from one run (`wait_duration` seconds).
Prints RESULT lines.
"""

import argparse
import json
import os
import tempfile

import wandb
from wandb.automations import (
    ArtifactEvent,
    OnAddArtifactAlias,
    OnRunMetric,
    RunEvent,
    SendWebhook,
)

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument(
    "--mode", choices=["alias", "metric-setup", "metric-log", "alert", "log-production"]
)
parser.add_argument("--losses", default="")
parser.add_argument("--scope", choices=["collection", "project"], default="collection")
parser.add_argument("--hook", default="hook")
parser.add_argument("--name", default="on-production")
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--wait", type=float, default=3600)
args = parser.parse_args()


def log_model(aliases: list[str], content: str) -> None:
    with wandb.init(project=args.project, job_type="train") as run:
        art = wandb.Artifact("model", type="model")
        path = os.path.join(tempfile.mkdtemp(), "weights.txt")
        with open(path, "w") as f:
            f.write(content)
        art.add_file(path)
        run.log_artifact(art, aliases=aliases).wait()


def webhook(api: wandb.Api) -> object:
    return next(
        h for h in api.webhook_integrations(entity=api.default_entity) if h.name == args.hook
    )


payload = {
    "event_type": "${event_type}",
    "event_author": "${event_author}",
    "artifact_version": "${artifact_version}",
    "artifact_version_string": "${artifact_version_string}",
    "artifact_collection_name": "${artifact_collection_name}",
    "project_name": "${project_name}",
    "entity_name": "${entity_name}",
}

if args.mode == "alias":
    log_model(["candidate"], "v0")
    api = wandb.Api()
    if args.scope == "collection":
        path = f"{api.default_entity}/{args.project}/model"
        scope = api.artifact_collection("model", path)
    else:  # any collection of the project whose version gets the alias
        scope = api.project(args.project, api.default_entity)
    event = OnAddArtifactAlias(scope=scope, filter=ArtifactEvent.alias.eq("production"))
    action = SendWebhook.from_integration(webhook(api), payload=payload)
    created = api.create_automation(event >> action, name=args.name, description="deploy")
    listed = [a.name for a in api.automations(entity=api.default_entity)]
    print("RESULT " + json.dumps({"created": created.name, "listed": listed}), flush=True)
    log_model(["production"], "v1")
    print("RESULT " + json.dumps({"phase": "logged"}), flush=True)
elif args.mode == "log-production":
    log_model(["production"], args.name)
    print("RESULT " + json.dumps({"phase": "logged"}), flush=True)
elif args.mode == "metric-setup":
    api = wandb.Api()
    # A first run makes the project (works with every client version).
    wandb.init(project=args.project, id="setup").finish()
    scope = api.project(args.project, api.default_entity)
    event = OnRunMetric(scope=scope, filter=RunEvent.metric("loss") < 0.1)
    action = SendWebhook.from_integration(
        webhook(api), payload={"run": "${run_id}", "loss": "${metric_value}"}
    )
    created = api.create_automation(event >> action, name=args.name)
    print("RESULT " + json.dumps({"created": created.name}), flush=True)
elif args.mode == "metric-log":
    resume = "allow"
    with wandb.init(project=args.project, id="falling", resume=resume) as run:
        for loss in args.losses.split(","):
            run.log({"loss": float(loss)})
    print("RESULT " + json.dumps({"phase": "logged"}), flush=True)
elif args.mode == "alert":
    with wandb.init(project=args.project, id="alerting") as run:
        for i in range(args.repeat):
            run.alert(title="Loss spike", text=f"step {i}", level="WARN", wait_duration=args.wait)
    print("RESULT " + json.dumps({"phase": "done"}), flush=True)
