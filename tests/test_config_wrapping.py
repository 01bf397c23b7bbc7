"""W&B's wire config and Runyard's stored config convert both ways without loss."""

from runyard.server.tracking.config import unwrap_config, wrap_config


def test_wire_config_round_trips() -> None:
    wire = {
        "lr": {"value": 0.01},
        "layers": {"value": [1, 2]},
        "opt": {"value": {"name": "adam", "value": 3}},
        "_wandb": {"value": {"t": {"1": [1]}, "cli_version": "0.31.0"}},
    }
    config, internals = unwrap_config(wire)
    assert config == {"lr": 0.01, "layers": [1, 2], "opt": {"name": "adam", "value": 3}}
    assert internals == {"t": {"1": [1]}, "cli_version": "0.31.0"}
    assert wrap_config(config, internals) == wire
