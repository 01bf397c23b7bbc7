"""A run for the run page's tabs: config, a 64-bin histogram, an image and a text file.

Run from inside the git repository given as `--repo` (the client records its remote and
commit in `wandb-metadata.json`). Prints RESULT {"id": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--repo", required=True)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

os.chdir(args.repo)  # the client reads git facts from its working directory
config = {"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "epochs": args.epochs}
run = wandb.init(project=args.project, config=config, tags=["tabs"], notes="run page tabs")
print("RESULT " + json.dumps({"id": run.id}), flush=True)
rng = np.random.default_rng(0)
for epoch in range(args.epochs):
    run.log({"train/loss": 1.0 / (epoch + 1), "val/acc": epoch / args.epochs})
    print(f"epoch {epoch} done", flush=True)
pixels = (rng.random((32, 48, 3)) * 255).astype("uint8")
run.log({"weights": wandb.Histogram(rng.normal(size=1000), num_bins=64)})
run.log({"samples": wandb.Image(pixels, caption="noise")})
notes = Path(args.repo) / "notes.txt"
notes.write_text("first line of the notes\nsecond line\n")
run.save(str(notes), base_path=args.repo, policy="now")
run.finish()
