"""Log a short run into an entity with plain `wandb`; print what the client saw.

Prints `RESULT {...}`: the run's id and entity, or the exception `wandb.init` raised.
"""

import argparse
import json
import sys

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--entity", required=True)
parser.add_argument("--project", required=True)
args = parser.parse_args()

try:
    run = wandb.init(entity=args.entity, project=args.project, config={"lr": 0.1})
except Exception as exc:  # the test asserts on the client's own message
    print("RESULT " + json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
    sys.exit(3)
for step in range(3):
    run.log({"loss": 1.0 / (step + 1)})
run.finish()
print("RESULT " + json.dumps({"id": run.id, "entity": run.entity}), flush=True)
