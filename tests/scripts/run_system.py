"""A run with system metrics, read back with the public API; run state changes and deletes.

Prints RESULT lines: what `scan_history`, `history(stream="system")`, `system_metrics`,
`history_keys`, `update_state` and `delete` answered.
"""

from __future__ import annotations

import argparse
import json
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--steps", type=int, default=23)
args = parser.parse_args()


def emit(phase: str, **data: object) -> None:
    print("RESULT " + json.dumps({"phase": phase, **data}), flush=True)


settings = wandb.Settings(x_stats_sampling_interval=0.1)
with wandb.init(project=args.project, settings=settings) as run:
    for step in range(args.steps):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 100}, step=step)
    run.log({"only_other": 1}, step=args.steps)
    # The system monitor samples every 0.1 s: give it time for a few samples.
    time.sleep(1.5)
    path = f"{run.entity}/{run.project}/{run.id}"

api = wandb.Api(timeout=60)
read = api.run(path)
emit(
    "history",
    scan_all=[row["_step"] for row in read.scan_history(page_size=5)],
    scan_loss=[row["_step"] for row in read.scan_history(keys=["loss"], page_size=5)],
    scan_loss_values=[row["loss"] for row in read.scan_history(keys=["loss"], page_size=4)],
    last_step=read.history_keys["lastStep"],
    previous={k: v.get("previousValue") for k, v in read.history_keys["keys"].items()},
)

system_rows = read.history(stream="system", pandas=False)
emit(
    "system",
    rows=len(system_rows),
    row_keys=sorted({key for row in system_rows for key in row}),
    latest=sorted(read.system_metrics),
)

# A run created through the public API starts running: fail it, refuse a repeat, requeue it.
created = api.create_run(project=args.project)
target = api.run(f"{created.entity}/{created.project}/{created.id}")
if hasattr(target, "update_state"):
    states: list[object] = [target.update_state("failed"), target.state]
    try:
        target.update_state("failed")
        states.append("repeat accepted")
    except Exception as exc:
        states.append(str(exc))
    states.append(target.update_state("pending"))
    states.append(wandb.Api().run(f"{created.entity}/{created.project}/{created.id}").state)
    emit("state", states=states)

target.delete()
target.delete(delete_artifacts=True)  # a second delete is answered like the first
try:
    # A fresh Api: the first one caches the runs it has read.
    wandb.Api().run(f"{created.entity}/{created.project}/{created.id}")
    gone = "still there"
except Exception as exc:
    gone = str(exc)
emit("delete", gone=gone)
