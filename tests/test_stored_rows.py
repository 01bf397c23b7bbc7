"""Stored history lines read back with the value the json module gives them."""

from __future__ import annotations

import json

import pytest

from runyard.server.tracking.history import spelled_numbers, stored_row

TRICKY = [
    '{"_step": 1, "loss": NaN, "up": Infinity, "down": -Infinity}',
    '{"_step": 2, "big": 1180591620717411303424, "tiny": 5e-324, "huge": 1e400}',
    '{"_step": 3, "k": 1, "k": 2}',
    '{"_step": 4, "text": "caf\\u00e9 \\ud83d\\ude00", "lone": "\\ud800"}',
    '{"_step": 5, "nested": {"a": [1, 2.5, null, true]}, "e": 1E+2, "neg": -0.0}',
    '{"_step":6,"loss":0.30000000000000004}',
]


@pytest.mark.parametrize("text", TRICKY)
def test_a_stored_line_reads_back_as_the_json_module_reads_it(text: str) -> None:
    # repr: NaN never equals itself, and -0.0 equals 0.0; the reprs tell them apart.
    assert repr(stored_row(text)) == repr(json.loads(text))


def test_rows_sent_as_json_values_spell_nan_and_infinities_as_w_and_b_does() -> None:
    row = stored_row('{"_step": 1, "a": NaN, "b": [Infinity, 2.5], "c": {"d": -Infinity}}')
    assert spelled_numbers(row) == {
        "_step": 1,
        "a": "NaN",
        "b": ["Infinity", 2.5],
        "c": {"d": "-Infinity"},
    }
    assert json.loads(json.dumps(spelled_numbers(row), allow_nan=False))  # valid JSON now
