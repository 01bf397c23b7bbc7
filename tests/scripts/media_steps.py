"""Log media on many steps with the official client: a histogram every step, an image now and then.

The histogram at step s has one value, s, so a test can tell which step a value came from;
`--fork-from` / `--resume-from` branch or rewind another run as `wandb.init` does.
Prints `RESULT {"id": ...}`.
"""

import argparse
import json

import wandb
from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--run-id", required=True)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--image-every", type=int, default=0)
parser.add_argument("--fork-from")
parser.add_argument("--resume-from")
args = parser.parse_args()

run = wandb.init(
    project=args.project,
    id=args.run_id,
    fork_from=args.fork_from,
    resume_from=args.resume_from,
)
print("RESULT " + json.dumps({"id": run.id, "start": run.starting_step}), flush=True)
start = run.starting_step
for step in range(start, start + args.steps):
    row = {"loss": 1.0 / (step + 1), "w": wandb.Histogram(np_histogram=([1], [step, step + 1]))}
    if args.image_every and step % args.image_every == 0:
        row["img"] = wandb.Image(Image.new("RGB", (4, 4), (step % 256, 0, 0)), caption=str(step))
    run.log(row, step=step)
run.finish()
