"""Log a run with the official client, or read it back through the public API.

`log`: `--steps` rows of loss/acc/epoch/phase/nested (optionally resuming `--run-id`).
`delete`: deletes the run `--path` through the public API.
`read`: prints what scan_history (all keys, one key, a step window) and history() return,
and which Parquet files the client cached (it caches the exports it downloads).
"""

import argparse
import json
import os
import pathlib

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["log", "read", "delete"])
parser.add_argument("--project")
parser.add_argument("--run-id")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--path", help="entity/project/run to read")
parser.add_argument("--extra", action="store_true", help="log a list value on the last step")
parser.add_argument("--key", default="loss", help="the key `read` scans alone")
args = parser.parse_args()

if args.mode == "log":
    run = wandb.init(project=args.project, id=args.run_id, resume="allow" if args.run_id else None)
    start = run.starting_step or run.step
    for step in range(start, start + args.steps):
        row = {
            "loss": 1.0 / (step + 1),
            "acc": step / 100,
            "epoch": step // 10,
            "phase": "train" if step % 2 else "eval",
            "nested": {"x": step, "y": 0.5},
        }
        if args.extra and step == start + args.steps - 1:
            row["extra"] = [1, 2]
        run.log(row)
    print("RESULT " + json.dumps({"id": run.id, "entity": run.entity}), flush=True)
    run.finish()
elif args.mode == "delete":
    wandb.Api(timeout=30).run(args.path).delete()
    print("RESULT " + json.dumps({"deleted": args.path}), flush=True)
else:
    run = wandb.Api(timeout=30).run(args.path)
    cache = pathlib.Path(os.environ["WANDB_CACHE_DIR"])

    def plain(row: dict) -> dict:
        # Drop the client's own bookkeeping columns: their values differ per run.
        return {k: v for k, v in row.items() if not k.startswith("_") or k == "_step"}

    out = {
        "all": [plain(r) for r in run.scan_history()],
        "loss": [[r["_step"], r[args.key]] for r in run.scan_history(keys=[args.key])],
        "window": [r["_step"] for r in run.scan_history(min_step=3, max_step=9)],
        "sampled": [r["_step"] for r in run.history(samples=500, pandas=False)],
        "last_step": run.lastHistoryStep,
        "parquet_files": sorted(p.name for p in cache.rglob("*.parquet")),
    }
    print("RESULT " + json.dumps(out), flush=True)
