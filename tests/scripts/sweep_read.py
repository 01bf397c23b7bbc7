"""Read a sweep with the public API: api.sweep, sweep.runs, best_run, run.sweep, Project.sweeps."""

import json
import sys

import wandb

path = sys.argv[1]
entity, project, sweep_id = path.split("/")
api = wandb.Api()
sweep = api.sweep(path)
runs = [
    {
        "name": r.id,
        "state": r.state,
        "config": {k: v for k, v in r.config.items() if not k.startswith("_")},
        "loss": r.summary.get("loss"),
        "sweep": r.sweep.id if r.sweep else None,
        "history": [row["loss"] for row in r.scan_history(keys=["loss"])],
    }
    for r in sweep.runs
]
best = sweep.best_run()
listed = [s.id for s in api.project(project, entity=entity).sweeps()]
print(
    "RESULT "
    + json.dumps(
        {
            "id": sweep.id,
            "state": sweep.state,
            "config": sweep.config,
            "runs": runs,
            "best": best.id if best else None,
            "project_sweeps": listed,
        }
    )
)
