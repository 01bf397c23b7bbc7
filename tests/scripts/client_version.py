"""Print the installed wandb client's version."""

import wandb

print(wandb.__version__)
