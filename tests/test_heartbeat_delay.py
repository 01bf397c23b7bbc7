"""The agent renews a lease before it runs out, whatever its heartbeat interval says."""

from datetime import UTC, datetime, timedelta

from runyard.launch.agent.loop import MIN_HEARTBEAT_S, heartbeat_delay

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_without_held_leases_the_configured_interval_is_kept() -> None:
    assert heartbeat_delay(10, [], NOW) == 10
    assert heartbeat_delay(10, [None], NOW) == 10


def test_a_short_queue_lease_is_renewed_with_a_third_of_it_left() -> None:
    # A queue with a 5 s lease and the default 10 s interval: waiting 10 s would lose the item.
    assert heartbeat_delay(10, [NOW + timedelta(seconds=5)], NOW) == 5 / 3


def test_the_lease_that_runs_out_first_decides() -> None:
    leases = [NOW + timedelta(seconds=60), NOW + timedelta(seconds=9), None]
    assert heartbeat_delay(10, leases, NOW) == 3


def test_an_overdue_lease_is_renewed_soon_but_the_server_is_not_hammered() -> None:
    assert heartbeat_delay(10, [NOW - timedelta(seconds=2)], NOW) == MIN_HEARTBEAT_S
