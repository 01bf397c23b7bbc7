"""Read runs back with the official client's public API (`wandb.Api`), printing RESULT lines."""

from __future__ import annotations

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--path", required=True, help="entity/project")
parser.add_argument("--filters", default=None, help="JSON filter")
parser.add_argument("--order", default="-created_at")
args = parser.parse_args()

api = wandb.Api(timeout=30)
filters = json.loads(args.filters) if args.filters else None
runs = api.runs(args.path, filters=filters, order=args.order, per_page=2)
listed = []
for run in runs:
    listed.append(
        {
            "id": run.id,
            "name": run.name,
            "state": run.state,
            "tags": run.tags,
            "group": run.group,
            "job_type": run.job_type,
            "created_at": run.created_at,
        }
    )
print("RESULT " + json.dumps({"phase": "list", "runs": listed, "count": len(runs)}), flush=True)

if listed:
    run = api.run(f"{args.path}/{listed[0]['id']}")
    scanned = list(run.scan_history(page_size=7))
    sampled = run.history(samples=1000, pandas=False)
    print(
        "RESULT "
        + json.dumps(
            {
                "phase": "run",
                "config": dict(run.config),
                "summary": {k: v for k, v in run.summary.items() if not k.startswith("_wandb")},
                "scan_steps": [row["_step"] for row in scanned],
                "scan_loss": [row.get("loss") for row in scanned],
                "sampled_steps": sorted(row["_step"] for row in sampled),
                "history_keys": sorted(run.history_keys["keys"]),
            },
            default=dict,  # nested summary values are SummarySubDict objects
        ),
        flush=True,
    )
