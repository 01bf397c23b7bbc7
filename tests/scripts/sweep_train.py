"""A sweep's training program: `wandb agent` runs it with the run's parameters.

loss = lr + batch/1000 + 1/(step+1): smaller lr is better at every step, so hyperband has
clear losers. SWEEP_STEPS and SWEEP_SLEEP set how long a run lasts; with SWEEP_HOLD set, a
run that logged its steps waits until that file exists before it finishes (a test decides
when, instead of racing a timer).
"""

import os
import time
from pathlib import Path

import wandb

# Hyperband reads the history the server has: send it every second, not every 15 s.
run = wandb.init(settings=wandb.Settings(x_file_stream_transmit_interval=1.0))
steps = int(os.environ.get("SWEEP_STEPS", "3"))
pause = float(os.environ.get("SWEEP_SLEEP", "0"))
lr = float(run.config["lr"])
batch = float(run.config.get("batch", 0))
print(f"RESULT_START {run.id}", flush=True)
for step in range(steps):
    run.log({"loss": lr + batch / 1000 + 1 / (step + 1)})
    time.sleep(pause)
hold = os.environ.get("SWEEP_HOLD")
while hold and not Path(hold).exists():
    time.sleep(0.1)
run.finish()
