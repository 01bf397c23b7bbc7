"""Log a run that may fork from or rewind another: plain `wandb.init(fork_from=/resume_from=)`.

Logs `{"v": offset + step}` at each step, so a test can tell whose line a step is.
Prints `RESULT {...}` lines with what the client saw.
"""

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--entity")
parser.add_argument("--run-id", required=True)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--offset", type=float, default=0.0)
parser.add_argument("--fork-from")
parser.add_argument("--resume-from")
parser.add_argument("--resume")
args = parser.parse_args()

run = wandb.init(
    project=args.project,
    entity=args.entity,
    id=args.run_id,
    name=args.run_id,  # pages show names: the test reads runs by their ids
    fork_from=args.fork_from,
    resume_from=args.resume_from,
    resume=args.resume,
    config={"lr": 0.1},
)
start = run.starting_step
print("RESULT " + json.dumps({"phase": "init", "id": run.id, "start": start}), flush=True)
for i in range(args.steps):
    run.log({"v": args.offset + start + i})
run.finish()
print("RESULT " + json.dumps({"phase": "done"}), flush=True)
