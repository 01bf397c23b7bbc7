"""Log media over steps with the official client: images, a histogram, a table, HTML, audio.

Images change colour per step (red, green, blue) with a caption naming it; the histogram's
values drift upward; the table has a `score` column to sort; the audio is a short WAV tone
written with the stdlib `wave` module.
"""

import argparse
import json
import math
import struct
import wave
from pathlib import Path

import numpy as np
import wandb
from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("--project", required=True)
parser.add_argument("--workdir", required=True)
args = parser.parse_args()
work = Path(args.workdir)
work.mkdir(parents=True, exist_ok=True)

tone = work / "tone.wav"
with wave.open(str(tone), "wb") as out:
    out.setnchannels(1)
    out.setsampwidth(2)
    out.setframerate(8000)
    frames = [int(12000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000 // 2)]
    out.writeframes(struct.pack(f"<{len(frames)}h", *frames))

run = wandb.init(project=args.project)
print("RESULT " + json.dumps({"id": run.id}), flush=True)
rng = np.random.default_rng(0)
colours = [("red", (255, 0, 0)), ("green", (0, 160, 0)), ("blue", (0, 0, 255))]
for step, (name, rgb) in enumerate(colours):
    row = {
        "samples": wandb.Image(Image.new("RGB", (16, 16), rgb), caption=f"{name} at step {step}"),
        "weights": wandb.Histogram(rng.normal(loc=step, scale=1.0, size=500)),
        "loss": 1.0 / (step + 1),
    }
    if step == 0:
        row["scores"] = wandb.Table(
            columns=["name", "score"], data=[["b", 10], ["a", 9], ["c", 100], ["d", 42]]
        )
        row["report"] = wandb.Html("<h1>Logged HTML</h1><p>from the run</p>")
        row["tone"] = wandb.Audio(str(tone), caption="a 440 Hz tone")
    run.log(row, step=step)
run.finish()
