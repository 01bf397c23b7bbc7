"""Read one run's history with the public API (`scan_history`, `history`), printing RESULT."""

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--path", required=True, help="entity/project/run")
args = parser.parse_args()

run = wandb.Api(timeout=30).run(args.path)
scanned = [(row["_step"], row.get("v")) for row in run.scan_history(page_size=4)]
sampled = [(row["_step"], row.get("v")) for row in run.history(samples=500, pandas=False)]
keyed = [(row["_step"], row.get("v")) for row in run.history(keys=["v"], pandas=False)]
print(
    "RESULT "
    + json.dumps(
        {
            "scanned": scanned,
            "sampled": sampled,
            "keyed": keyed,
            "summary_v": run.summary.get("v"),
            "last_step": run.lastHistoryStep,
        }
    ),
    flush=True,
)
