"""Pure decisions behind the run and launch pages: summary labels, the nested config, the
client's metadata, file previews and exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from runyard.launch.models import ItemError, ItemState, Priority, QueueItem, Requirements
from runyard.server.db.models import Run
from runyard.server.queues.item_views import exit_code_of
from runyard.server.tracking.run_file_preview import preview_kind
from runyard.server.tracking.run_metadata import machine_of, parse_metadata
from runyard.server.ui.run_views import ConfigRow, config_rows, summary_rows, value_label


def test_media_in_the_summary_is_one_short_typed_label() -> None:
    histogram = {"_type": "histogram", "values": list(range(64)), "bins": list(range(65))}
    summary = {
        "weights": histogram,
        "samples": {"_type": "image-file", "width": 48, "height": 32, "path": "m.png"},
        "final": {"_type": "table-file", "nrows": 10, "ncols": 2},
        "clip": {"_type": "video-file", "path": "v.mp4"},
        "eval": {"acc": 0.5, "_hidden": 1},
        "_step": 4,
        "_runtime": 12.5,
        "long": list(range(100)),
    }
    assert summary_rows(summary) == [
        ("_runtime", "12.5"),
        ("clip", "video"),
        ("eval.acc", "0.5"),
        ("final", "table (10 rows)"),
        ("long", "list (100 items)"),
        ("samples", "image (48x32)"),
        ("weights", "histogram (64 bins)"),
    ]
    assert value_label({"_type": "histogram", "bins": list(range(33))}) == "histogram (32 bins)"
    assert value_label("x" * 500).endswith("…") and len(value_label("x" * 500)) == 200


def test_config_is_a_nested_table_with_group_rows() -> None:
    config = {"lr": 0.1, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "flag": True}
    assert config_rows(config) == [
        ConfigRow("flag", 0, "true"),
        ConfigRow("lr", 0, "0.1"),
        ConfigRow("optimizer", 0, None),
        ConfigRow("betas", 1, "0.9, 0.999"),
        ConfigRow("name", 1, "adam"),
    ]


def _run(**fields: Any) -> Run:
    base = {"wandb_config": {}, "program": None, "host": None, "repo": None, "commit": None}
    return cast(Run, SimpleNamespace(**{**base, **fields}))


def test_metadata_parses_what_the_client_sends_and_tolerates_the_rest() -> None:
    meta = parse_metadata(
        b'{"program": "train.py", "args": ["--lr", "0.1"], "gpu_nvidia": [{"name": "A100"},'
        b' {"name": "A100"}], "git": {"commit": "abc"}, "surprise": [1, 2]}'
    )
    machine = machine_of(_run(wandb_config={"cli_version": "0.31.0"}), meta)
    assert machine.command == "python train.py --lr 0.1"
    assert (machine.gpu, machine.gpu_count) == ("A100", 2)
    assert machine.git_commit == "abc"
    assert machine.wandb_version == "0.31.0"
    for broken in (b"{not json", b"[1, 2]", b'{"cpu_count": "many"}', None):
        assert parse_metadata(broken) == parse_metadata(None)


def test_metadata_falls_back_to_the_wandb_config_and_the_run_row() -> None:
    entry = {"os": "Linux-6", "python": "CPython 3.12.1", "gpu": "H100", "gpu_count": 8}
    run = _run(
        wandb_config={"python_version": "3.12.1", "e": {"writer": entry}},
        program="fallback.py",
        host="node-1",
        repo="https://example.com/r.git",
        commit="def",
    )
    machine = machine_of(run, parse_metadata(None))
    assert (machine.os, machine.python, machine.gpu, machine.gpu_count) == (
        "Linux-6",
        "CPython 3.12.1",
        "H100",
        8,
    )
    assert machine.command == "python fallback.py"
    assert (machine.host, machine.git_remote, machine.git_commit) == (
        "node-1",
        "https://example.com/r.git",
        "def",
    )
    bare = machine_of(_run(wandb_config={"python_version": "3.10.2"}), parse_metadata(None))
    assert bare.python == "Python 3.10.2" and bare.command is None and bare.gpu is None


def test_which_files_preview_inline() -> None:
    assert preview_kind("media/images/a_1_f.png") == "image"
    assert preview_kind("photo.JPG") == "image"
    for text in ("notes.txt", "output.log", "wandb-metadata.json", "config.yaml", "train.py"):
        assert preview_kind(text) == "text", text
    # Script-capable formats are never rendered: HTML shows as (escaped) source text, an SVG
    # is download-only, as are binaries.
    assert preview_kind("page.html") == "text"
    for other in ("plot.svg", "model.pt"):
        assert preview_kind(other) == "none", other


def _item(error: ItemError | None) -> QueueItem:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return QueueItem(
        id="i1",
        queue="q",
        entity="e",
        priority=Priority.MEDIUM,
        run_spec={},
        template_values={},
        rendered_config={},
        requirements=Requirements(),
        state=ItemState.FAILED,
        state_times={"pending": now},
        created_at=now,
        error=error,
    )


def test_exit_code_comes_from_the_agents_words_or_the_run() -> None:
    local = ItemError(stage="run", message="the job's process exited with code 3")
    assert exit_code_of(_item(local), None) == 3
    pod = ItemError(
        stage="oom", message="container main ran out of memory (OOMKilled, exit code 137)"
    )
    assert exit_code_of(_item(pod), None) == 137
    killed = ItemError(stage="run", message="the job's process was killed by signal SIGKILL")
    assert exit_code_of(_item(killed), None) is None
    from runyard.server.queues.item_views import LaunchedRun
    from runyard.server.queues.launched import RunPath

    run = LaunchedRun(RunPath("e", "p", "r"), "failed", 2)
    assert exit_code_of(_item(None), run) == 2
