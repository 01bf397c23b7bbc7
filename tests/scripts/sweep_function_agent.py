"""`wandb.sweep()` then `wandb.agent(sweep, function=..., count=N)` in one process: the
Python API's way to run a sweep. Prints the sweep id and the runs it made."""

import json
import sys

import wandb

project, count = sys.argv[1], int(sys.argv[2])
config = json.loads(sys.argv[3])
sweep_id = wandb.sweep(config, project=project, entity="admin")
made = []
names = {}


def train() -> None:
    run = wandb.init()
    lr, opt = float(run.config["lr"]), run.config["opt"]
    for step in range(3):
        run.log({"loss": lr * 10 + (0.5 if opt == "sgd" else 0.0) + 1 / (step + 1)})
    made.append(run.id)
    names[run.id] = run.name  # the display name the server gave the run
    run.finish()


wandb.agent(sweep_id, function=train, count=count, project=project, entity="admin")
print("RESULT " + json.dumps({"sweep": sweep_id, "runs": made, "names": names}))
