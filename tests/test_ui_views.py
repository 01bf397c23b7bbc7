"""The UI's pure decisions: durations, columns, CSV, table filters, reasons, session tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from runyard.launch.models import ItemError, ItemState, Priority, QueueItem, Requirements
from runyard.server.db.models import Run
from runyard.server.signing import UrlSigner
from runyard.server.ui import views
from runyard.server.ui.filters import filter_document
from runyard.server.ui.session import session_token, user_id_from_token

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_durations_read_like_a_person_writes_them() -> None:
    assert views.human_duration(None) == ""
    assert views.human_duration(42) == "42s"
    assert views.human_duration(93) == "1m 33s"
    assert views.human_duration(3 * 3600 + 120) == "3h 2m"
    assert views.human_duration(2 * 86400 + 3600) == "2d 1h"


def test_nested_config_becomes_dotted_columns_shared_by_all_runs() -> None:
    a = views.flatten({"lr": 0.01, "optimizer": {"name": "adam", "beta": 0.9}})
    b = views.flatten({"lr": 0.1, "layers": [1, 2]})
    assert a == {"lr": 0.01, "optimizer.name": "adam", "optimizer.beta": 0.9}
    assert views.column_keys([a, b]) == ["layers", "lr", "optimizer.beta", "optimizer.name"]
    assert views.visible_summary({"loss": 0.5, "_step": 9, "_runtime": 3.0}) == {
        "loss": 0.5,
        "_runtime": 3.0,
    }


def test_csv_quotes_cells_as_the_table_shows_them() -> None:
    text = views.runs_csv(["name", "tags", "loss"], [["a,b", ["x", "y"], 1 / 3], ["c", [], None]])
    assert text == 'name,tags,loss\n"a,b","x, y",0.333333\nc,,\n'


@pytest.mark.parametrize(
    ("field", "op", "value", "document"),
    [
        ("config.lr", "$eq", "0.01", {"config.lr": 0.01}),
        ("state", "$ne", "finished", {"state": {"$ne": "finished"}}),
        ("summary_metrics.loss", "$lt", "0.5", {"summary_metrics.loss": {"$lt": 0.5}}),
        ("tags", "$in", "a100", {"tags": {"$in": ["a100"]}}),
        ("display_name", "$regex", "^12", {"display_name": {"$regex": "^12"}}),
        ("", "$eq", "x", None),
    ],
)
def test_table_filter_form_builds_the_api_filter(
    field: str, op: str, value: str, document: object
) -> None:
    assert filter_document(field, op, value) == document


def test_table_filter_rejects_unknown_operators() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        filter_document("config.lr", "$where", "1")


def test_session_token_round_trips_and_refuses_tampering_and_expiry() -> None:
    signer = UrlSigner(b"k" * 32, ttl_s=60)
    token = session_token(signer, 7)
    assert user_id_from_token(signer, token) == 7
    _, expires, sig = token.split(".")
    assert user_id_from_token(signer, f"8.{expires}.{sig}") is None
    assert user_id_from_token(UrlSigner(b"x" * 32, 60), token) is None
    assert user_id_from_token(signer, None) is None
    assert user_id_from_token(signer, "garbage") is None
    expired = UrlSigner(b"k" * 32, ttl_s=-1)
    assert user_id_from_token(expired, session_token(expired, 7)) is None


def _item(state: ItemState, **extra: object) -> QueueItem:
    fields: dict[str, object] = {
        "id": "i1",
        "queue": "q",
        "entity": "admin",
        "priority": Priority.MEDIUM,
        "run_spec": {},
        "template_values": {},
        "rendered_config": {},
        "requirements": Requirements(),
        "state": state,
        "state_times": {"pending": T0},
        "attempts": 0,
        "created_at": T0,
    }
    fields.update(extra)
    return QueueItem.model_validate(fields)


def test_items_say_why_they_are_where_they_are() -> None:
    failed = _item(ItemState.FAILED, error=ItemError(stage="launch", message="no such image"))
    assert views.item_reason(failed, None) == "launch: no such image"
    assert "next in line" in views.item_reason(_item(ItemState.PENDING), 0)
    assert "2 item(s) ahead" in views.item_reason(_item(ItemState.PENDING), 2)
    requeued = views.item_reason(_item(ItemState.PENDING, attempts=1), 0)
    assert requeued.startswith("requeued after attempt 1")


def test_wait_is_until_claimed_or_until_now_while_pending() -> None:
    now = T0 + timedelta(seconds=90)
    assert views.wait_seconds(_item(ItemState.PENDING), now) == 90
    running = _item(
        ItemState.RUNNING, state_times={"pending": T0, "claimed": T0 + timedelta(seconds=5)}
    )
    assert views.wait_seconds(running, now) == 5


def test_sidebar_runs_carry_config_and_only_scalar_visible_summary() -> None:
    run = Run(
        name="abc123",
        display_name="bright-sun-1",
        state="finished",
        group_name="sweep",
        config={"optimizer": {"lr": 0.01}},
        summary={
            "loss": 0.2,
            "_step": 99,
            "_runtime": 12.5,
            "best": {"acc": 0.9},
            "hist": {"_type": "histogram", "values": [1, 2], "bins": [0, 1, 2]},
        },
        history_line_count=100,
    )
    card = views.sidebar_run(run)
    assert card["name"] == "bright-sun-1" and card["id"] == "abc123"
    assert card["config"] == {"optimizer.lr": 0.01}
    assert card["summary"] == {"loss": 0.2, "_runtime": 12.5, "best.acc": 0.9}


def test_every_project_page_shows_the_same_tabs_with_its_own_marked_current() -> None:
    from runyard.server.ui.pages import templates

    tabs = templates.env.get_template("_project_tabs.html").module.project_tabs  # type: ignore[attr-defined]
    html = str(tabs("ada", "mnist", "sweeps"))
    for path in ("", "/table", "/jobs", "/artifacts", "/sweeps", "/reports", "/automations"):
        assert f'href="/ada/mnist{path}"' in html, path
    assert html.count('aria-current="page"') == 1
    assert re.search(r'<a href="/ada/mnist/sweeps"[^>]* aria-current="page"', html)
