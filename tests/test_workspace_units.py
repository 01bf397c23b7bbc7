"""Workspace pure decisions: what counts as media in a history row, thinning, layout checks."""

from __future__ import annotations

import json

import pytest

from runyard.server.errors import ServiceError
from runyard.server.tracking import media_index
from runyard.server.workspaces import media
from runyard.server.workspaces.layout import check_view_name, parse_layout


def test_the_clients_media_values_become_panel_entries() -> None:
    image = {"_type": "image-file", "path": "media/images/s_0_ab.png", "caption": "cat"}
    assert media.media_entry(image) == (
        "image",
        {"files": ["media/images/s_0_ab.png"], "captions": ["cat"]},
    )
    several = {"_type": "images/separated", "filenames": ["a.png", "b.png"], "captions": ["x"]}
    assert media.media_entry(several) == (
        "image",
        {"files": ["media/images/a.png", "media/images/b.png"], "captions": ["x", ""]},
    )
    hist = {"_type": "histogram", "bins": [0, 1, 2], "values": [3, 4]}
    assert media.media_entry(hist) == ("histogram", {"bins": [0, 1, 2], "values": [3, 4]})
    packed = {
        "_type": "histogram",
        "packedBins": {"min": 0, "size": 0.5, "count": 2},
        "values": [1, 2],
    }
    assert media.media_entry(packed) == ("histogram", {"bins": [0, 0.5, 1.0], "values": [1, 2]})
    assert media.media_entry({"_type": "table-file", "path": "media/table/t.table.json"}) == (
        "table",
        {"files": ["media/table/t.table.json"], "captions": [""]},
    )
    # Scalars, unknown types and broken histograms are not media.
    assert media.media_entry(0.5) is None
    assert media.media_entry({"_type": "plotly-file"}) is None
    assert media.media_entry({"_type": "histogram", "bins": [0, 1], "values": [1, 2]}) is None


def test_media_lines_become_panels_by_key_and_run() -> None:
    image = '{"_step": %d, "loss": 1, "img": {"_type": "image-file", "path": "media/images/%d.png"}'
    hist = ', "w": {"_type": "histogram", "bins": [0, 1], "values": [%d]}}'
    lines = [
        ("a", "img", 0, image % (0, 0) + hist % 5),
        ("a", "w", 0, image % (0, 0) + hist % 5),
        ("a", "img", 3, image % (3, 3) + "}"),
        ("b", "w", 7, '{"w": {"_type": "histogram", "bins": [0, 1], "values": [1, 2]}}'),
    ]
    found = media.media_of_lines(lines)
    # Keys sorted; steps in line order per run; a broken histogram (run b) is left out.
    assert list(found) == ["img", "w"]
    assert found["img"] == {
        "kind": "image",
        "runs": {
            "a": [
                {"step": 0, "files": ["media/images/0.png"], "captions": [""]},
                {"step": 3, "files": ["media/images/3.png"], "captions": [""]},
            ]
        },
    }
    assert found["w"] == {
        "kind": "histogram",
        "runs": {"a": [{"step": 0, "bins": [0, 1], "values": [5]}]},
    }


def test_ingest_indexes_top_level_media_values_only() -> None:
    row = {
        "img": {"_type": "image-file", "path": "x.png"},
        "plot": {"_type": "plotly-file"},
        "nested": {"inner": {"_type": "image-file"}},
        "loss": 0.5,
        "_step": 9,
    }
    text = json.dumps(row)
    assert media_index.media_keys(row, text) == ["img"]
    assert media_index.media_keys({"loss": 0.5}, '{"loss": 0.5}') == []
    # Only new lines are indexed (a retried post adds nothing); no `_step`: the line number.
    history = [(4, row, text), (5, {"img": row["img"]}, json.dumps({"img": row["img"]}))]
    assert media_index.index_rows(1, history, {5}) == [
        {"run_id": 1, "key": "img", "line_no": 5, "step": 5}
    ]
    assert media_index.index_rows(1, history, {4})[0]["step"] == 9


def test_media_keys_come_from_summaries_with_their_kind() -> None:
    summaries = [
        {"loss": 1, "img": {"_type": "image-file", "path": "x"}},
        {"w": {"_type": "histogram", "bins": [0, 1], "values": [1]}, "t": {"_type": "table-file"}},
    ]
    assert media.media_keys_of_summaries(summaries) == {
        "img": "image",
        "t": "table",
        "w": "histogram",
    }


def test_layout_errors_name_every_bad_field() -> None:
    with pytest.raises(ServiceError) as caught:
        parse_layout({"sections": [{"name": "ok", "panels": [{"kind": "line"}]}], "extra": 1})
    message = str(caught.value)
    assert "layout.sections.0.panels.0.key: Field required" in message
    assert "layout.extra: Extra inputs are not permitted" in message
    assert caught.value.details["problems"]
    with pytest.raises(ServiceError, match="name: a view name is 1 to 128"):
        check_view_name("x" * 129)
    assert check_view_name("  mine ") == "mine"
