"""Workspace pure decisions: what counts as media in a history row, thinning, layout checks."""

from __future__ import annotations

import pytest

from runyard.server.errors import ServiceError
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


def test_a_runs_media_by_key_in_step_order_and_thinned() -> None:
    rows = [
        (s, {"loss": 1.0, "img": {"_type": "image-file", "path": f"media/images/{s}.png"}})
        for s in range(1200)
    ]
    found = media.media_of_rows(rows)
    assert list(found) == ["img"]
    steps = [e["step"] for e in found["img"]["steps"]]
    assert len(steps) == media.MAX_STEPS
    assert steps[0] == 0 and steps[-1] == 1199
    assert steps == sorted(steps)


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
