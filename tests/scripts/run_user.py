"""Read who a run is attributed to through the public API: `wandb.Api().run(path).user`."""

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("path", help="entity/project/run_id")
args = parser.parse_args()

user = wandb.Api().run(args.path).user
print("RESULT " + json.dumps({"username": user.username, "name": user.name}), flush=True)
