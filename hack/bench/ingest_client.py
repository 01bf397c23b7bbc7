"""One benchmark training process: the official client logging steps x metrics, flat out."""

import sys

import wandb

project, steps, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run = wandb.init(project=project, config={"bench": True})
names = [f"m{j:02d}" for j in range(metrics)]
for step in range(steps):
    run.log({name: step * 0.001 + j for j, name in enumerate(names)})
run.finish()
