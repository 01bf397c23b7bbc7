"""Log a video with the official client: `wandb.Video(path)` of a pre-encoded WebM at steps
0 and 1 (the client only encodes arrays itself with moviepy, which the tests leave out)."""

import argparse
import json

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--video", required=True)
args = parser.parse_args()

run = wandb.init(project=args.project)
print("RESULT " + json.dumps({"id": run.id}), flush=True)
for step in range(2):
    clip = wandb.Video(args.video, caption=f"moving square at step {step}")
    run.log({"clip": clip, "loss": 1.0 / (step + 1)}, step=step)
run.finish()
