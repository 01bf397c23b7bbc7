"""Log every media type and console output, then read the run's files back with `wandb.Api`.

`log`: a run logs Image, Table, Histogram, Html, Audio and Video, prints to stdout, and
prints RESULT {"run_id", "files_dir"} (the run's local files directory).
`live`: a run prints two lines, then waits (still running) until the file `--path` exists.
`read`: lists the run's files (`run.files()`) and downloads each into `--into`; prints
RESULT {"files": [...]} with name, size, md5 and mimetype as the API reports them.
`upload`: `run.upload_file(path)` for an existing run; prints RESULT with the returned File.
`missing`: `run.file(name)` for a name the run lacks; prints RESULT with the error.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import time
import wave
from pathlib import Path

import numpy as np
import wandb
from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("phase", choices=["log", "live", "read", "upload", "missing"])
parser.add_argument("--project", required=True)
parser.add_argument("--run-id", default=None)
parser.add_argument("--into", default=None)
parser.add_argument("--path", default=None)
parser.add_argument("--name", default=None)
parser.add_argument("--per-page", type=int, default=50)
args = parser.parse_args()


def write_wav(path: Path) -> None:
    """A 0.1 s 440 Hz-ish square wave, written with the stdlib only."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = b"".join(struct.pack("<h", 8000 if (i // 9) % 2 else -8000) for i in range(800))
        out.writeframes(frames)


def write_gif(path: Path) -> None:
    """A two-frame 8x8 GIF (a video from a file needs no video encoder)."""
    frames = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def log() -> None:
    work = Path(os.environ["WANDB_DIR"]) / "inputs"
    work.mkdir(parents=True, exist_ok=True)
    write_wav(work / "tone.wav")
    write_gif(work / "clip.gif")
    run = wandb.init(project=args.project, config={"lr": 0.01, "layers": 3})
    print("hello from the training script", flush=True)
    pixels = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    table = wandb.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])
    run.log(
        {
            "image": wandb.Image(pixels, caption="gradient"),
            "table": table,
            "hist": wandb.Histogram(np_histogram=([1, 2, 3], [0.0, 1.0, 2.0, 3.0])),
            "page": wandb.Html("<h1>Runyard</h1>"),
            "audio": wandb.Audio(str(work / "tone.wav"), sample_rate=8000, caption="tone"),
            "video": wandb.Video(str(work / "clip.gif")),
            "loss": 0.5,
        }
    )
    print("second line", flush=True)
    print("RESULT " + json.dumps({"run_id": run.id, "files_dir": run.dir}), flush=True)
    run.finish()


def live() -> None:
    run = wandb.init(project=args.project)
    print("live line one", flush=True)
    print("live line two", flush=True)
    run.log({"loss": 1.0})
    print("RESULT " + json.dumps({"run_id": run.id, "files_dir": run.dir}), flush=True)
    release = Path(args.path)
    while not release.exists():
        time.sleep(0.2)
    run.finish()


def read() -> None:
    api = wandb.Api(timeout=30)
    run = api.run(f"{args.project}/{args.run_id}")
    files = run.files(per_page=args.per_page)
    listed = []
    for file in files:
        file.download(root=args.into, replace=True)
        listed.append(
            {
                "name": file.name,
                "size": file.size,
                "md5": file.md5,
                "mimetype": file.mimetype,
                "updated_at": file.updated_at,
                "direct_url": file.direct_url,
            }
        )
    print("RESULT " + json.dumps({"count": len(files), "files": listed}), flush=True)


def upload() -> None:
    api = wandb.Api(timeout=30)
    run = api.run(f"{args.project}/{args.run_id}")
    path = Path(args.path)
    uploaded = run.upload_file(str(path), root=str(path.parent))
    print(
        "RESULT " + json.dumps({"name": uploaded.name, "size": uploaded.size, "md5": uploaded.md5}),
        flush=True,
    )


def missing() -> None:
    api = wandb.Api(timeout=30)
    run = api.run(f"{args.project}/{args.run_id}")
    try:
        run.file(args.name)
    except Exception as exc:  # the client's own error type varies by release
        print("RESULT " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
    else:
        print("RESULT " + json.dumps({"error": None}), flush=True)


{"log": log, "live": live, "read": read, "upload": upload, "missing": missing}[args.phase]()
