"""Log several runs one after another with the official client (as a researcher's loop does).

Used against replicas behind a proxy while one replica is killed: the client's own retries
must carry every row to a live replica. Prints one `RESULT {...}` line per finished run.
"""

import argparse
import json
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--prefix", required=True)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--sleep", type=float, default=0.05)
args = parser.parse_args()

for index in range(args.runs):
    run_id = f"{args.prefix}-{index}"
    run = wandb.init(project=args.project, id=run_id, settings=wandb.Settings(silent=True))
    for step in range(args.steps):
        run.log({"loss": 1.0 / (step + 1), "step_copy": step})
        time.sleep(args.sleep)
    run.finish()
    print("RESULT " + json.dumps({"id": run_id, "steps": args.steps}), flush=True)
