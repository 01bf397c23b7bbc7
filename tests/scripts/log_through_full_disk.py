"""Log history in two phases, waiting between them for the test to fill and then free a disk.

Plain `import wandb`; only the retry waits are shortened so that the client's retries
after the server's 507 come quickly. Prints `RESULT {...}` lines for the test.
"""

import argparse
import json
import time
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--signals", required=True, help="folder the test writes go/finish into")
parser.add_argument("--first", type=int, default=10)
parser.add_argument("--second", type=int, default=200)
args = parser.parse_args()
signals = Path(args.signals)


def wait_for(name: str) -> None:
    """Block until the test creates `signals/name`."""
    while not (signals / name).exists():
        time.sleep(0.05)


run = wandb.init(
    project=args.project,
    settings=wandb.Settings(
        x_disable_stats=True,
        x_disable_meta=True,
        x_file_stream_retry_max=10_000,
        x_file_stream_retry_wait_min_seconds=0.1,
        x_file_stream_retry_wait_max_seconds=0.5,
        x_graphql_retry_max=10_000,
        x_graphql_retry_wait_min_seconds=0.1,
        x_graphql_retry_wait_max_seconds=0.5,
    ),
)
print("RESULT " + json.dumps({"phase": "init", "id": run.id, "entity": run.entity}), flush=True)
for step in range(args.first):
    run.log({"loss": step / 10, "pad": "x" * 200})
    print(f"epoch {step}", flush=True)
print("RESULT " + json.dumps({"phase": "first"}), flush=True)
wait_for("go")
for step in range(args.first, args.first + args.second):
    run.log({"loss": step / 10, "pad": "x" * 200})
    print(f"epoch {step}", flush=True)
print("RESULT " + json.dumps({"phase": "second"}), flush=True)
wait_for("finish")
run.summary["done"] = True
run.finish()
print("RESULT " + json.dumps({"phase": "finished"}), flush=True)
