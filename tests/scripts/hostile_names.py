"""A run whose display name, config keys and metric names are HTML/script payloads.

Logged with the official client, as a hostile (or careless) user would; the UI tests check that
every page shows the payloads as text. Takes the payloads as one JSON argument.
"""

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--payloads", required=True, help='JSON {"name": ..., "keys": [...]}')
args = parser.parse_args()
payloads = json.loads(args.payloads)

config = {key: f"value of {key}" for key in payloads["keys"]}
run = wandb.init(project=args.project, name=payloads["name"], config=config)
print("RESULT " + json.dumps({"id": run.id}), flush=True)
for step in range(3):
    run.log({key: float(step + i) for i, key in enumerate(payloads["keys"])})
run.finish()
