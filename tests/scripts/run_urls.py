"""A run started without a name, as most are: prints the name and URLs the client has for it.

Prints one `RESULT {...}` line; the client's own `View run at` / `View project at` lines go to
its usual output, where the test reads them.
"""

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
args = parser.parse_args()

run = wandb.init(project=args.project, config={"lr": 0.1})
run.log({"loss": 1.0})
# Newer clients have `project_url`; older ones `get_project_url()`.
project_url = getattr(run, "project_url", None) or run.get_project_url()
result = {"id": run.id, "name": run.name, "url": run.url, "project_url": project_url}
run.finish()
api = wandb.Api()
public = api.run(f"{run.entity}/{args.project}/{run.id}")
result.update(
    api_name=public.name,
    api_url=public.url,
    api_project_url=api.project(args.project, entity=run.entity).url,
)
print("RESULT " + json.dumps(result), flush=True)
