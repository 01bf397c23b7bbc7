"""Send alerts from a run as a researcher does: `run.alert(...)`, printing RESULT lines."""

import argparse
import json

import wandb
from wandb import AlertLevel

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--run-id", required=True)
parser.add_argument("--repeat", type=int, default=2)
parser.add_argument("--big", action="store_true", help="also send an alert over the size limit")
args = parser.parse_args()

run = wandb.init(project=args.project, id=args.run_id)
for i in range(args.repeat):
    run.log({"loss": float("nan") if i else 1.0})
    run.alert(
        title="Loss is NaN",
        text=f"loss went to NaN at step {i}",
        level=AlertLevel.WARN,
        wait_duration=60,
    )
if args.big:
    run.alert(title="Huge", text="x" * 20_000, level="ERROR")
run.finish()
print("RESULT " + json.dumps({"phase": "done", "id": run.id}), flush=True)
