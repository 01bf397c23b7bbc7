"""A small training script for the UI tests: `train/loss` and `val/acc` with a chosen lr."""

import argparse
import json
import random
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()

run = wandb.init(project=args.project, config={"lr": args.lr})
print("RESULT " + json.dumps({"id": run.id, "name": run.name}), flush=True)
for step in range(args.steps):
    # Runs with the same lr differ a little, as real ones do, so a group has a visible band.
    noise = 1 + random.uniform(-0.2, 0.2)
    run.log({"train/loss": args.lr * 100 / (step + 1) * noise, "val/acc": step / args.steps})
    if args.sleep:
        time.sleep(args.sleep)
run.finish()
