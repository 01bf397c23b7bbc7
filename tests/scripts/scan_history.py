"""Scan one run's whole history with the public API's `scan_history`, printing RESULT rows."""

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--path", required=True, help="entity/project/run")
parser.add_argument("--page-size", type=int, default=1000)
args = parser.parse_args()

run = wandb.Api(timeout=30).run(args.path)
rows = list(run.scan_history(page_size=args.page_size))
print("RESULT " + json.dumps({"rows": rows, "version": wandb.__version__}), flush=True)
