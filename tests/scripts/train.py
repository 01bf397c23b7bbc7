"""A training script as a researcher writes it: plain `import wandb`, nothing Runyard-specific.

Prints one `RESULT {...}` JSON line so tests can see what the client saw.
"""

import argparse
import json
import math
import sys
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--run-id")
parser.add_argument("--resume")
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--exit-code", type=int, default=0)
parser.add_argument("--hang", action="store_true", help="sleep forever after logging")
parser.add_argument("--wait-stop", type=float, default=0.0, help="log slowly for this long")
args = parser.parse_args()

run = wandb.init(
    project=args.project,
    id=args.run_id,
    resume=args.resume,
    config={"lr": 0.01, "layers": [1, 2], "optimizer": {"name": "adam", "beta": 0.9}},
    tags=["baseline", "a100"],
    group="sweep-1",
    job_type="train",
    notes="first try",
)
# `starting_step` is what the server's resume status told the client; newer clients
# answer `run.step` from their core process, which may not have applied it yet.
start = run.starting_step or run.step
print(
    "RESULT "
    + json.dumps(
        {
            "phase": "init",
            "id": run.id,
            "entity": run.entity,
            "resumed": run.resumed,
            "start_step": start,
            "config": dict(run.config),
            "summary_best": run.summary.get("best"),
        }
    ),
    flush=True,
)
for i in range(args.steps):
    step = start + i
    run.log({"loss": 1.0 / (step + 1), "acc": step / 100, "nested": {"x": step}, "flag": True})
    print(f"epoch {step} loss={1.0 / (step + 1):.6f}", flush=True)
    if args.sleep:
        time.sleep(args.sleep)
deadline = time.monotonic() + args.wait_stop
while time.monotonic() < deadline:
    run.log({"loss": math.pi})
    time.sleep(0.2)
run.summary["best"] = 0.5
run.config.update({"extra": 1})
print("stderr line", file=sys.stderr, flush=True)
if args.hang:
    print("RESULT " + json.dumps({"phase": "hang"}), flush=True)
    time.sleep(3600)
run.finish(exit_code=args.exit_code)
print("RESULT " + json.dumps({"phase": "finished"}), flush=True)
sys.exit(args.exit_code)
