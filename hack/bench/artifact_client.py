"""One benchmark client process: the official client logging or downloading an artifact.

`log PROJECT NAME SRC`: log SRC as NAME twice (the second time unchanged: same version);
prints `TIMES {"log": s, "relog": s, "versions": [...]}`.
`get PROJECT NAME DEST`: download NAME:latest into DEST; prints `TIMES {"download": s}`.
"""

import json
import sys
import time

import wandb

action, project, name, path = sys.argv[1:5]
if action == "log":
    times = {}
    versions = []
    with wandb.init(project=project, job_type="bench-log") as run:
        for label in ("log", "relog"):
            started = time.perf_counter()
            artifact = wandb.Artifact(name, type="dataset")
            artifact.add_dir(path)
            logged = run.log_artifact(artifact).wait()
            times[label] = time.perf_counter() - started
            versions.append(logged.version)
    print("TIMES " + json.dumps({**times, "versions": versions}), flush=True)
else:
    with wandb.init(project=project, job_type="bench-get") as run:
        used = run.use_artifact(f"{name}:latest")
        started = time.perf_counter()
        used.download(root=path)
        elapsed = time.perf_counter() - started
    print("TIMES " + json.dumps({"download": elapsed}), flush=True)
