"""What a bus message does in this process: wake waiting claims, refresh a capacity, wake the
event dispatcher, or update the GPU telemetry board."""

from __future__ import annotations

from collections.abc import Callable

from runyard.server.cluster.messages import BusMessage
from runyard.server.queues.capacity_board import CapacityBoard
from runyard.server.queues.telemetry_board import TelemetryBoard
from runyard.server.queues.wakeup import Wakeup


def deliver(
    message: BusMessage,
    wakeup: Wakeup,
    board: CapacityBoard,
    telemetry: TelemetryBoard | None = None,
    wake_dispatcher: Callable[[], None] = lambda: None,
) -> None:
    """Apply one message (from this process or another) to the local wake-up state."""
    if message.kind == "work":
        wakeup.notify()
    elif message.kind == "capacity" and message.agent_id and message.capacity is not None:
        board.update(message.agent_id, message.capacity)
    elif message.kind == "events":
        wake_dispatcher()
    elif message.kind == "telemetry" and telemetry is not None:
        if message.samples:
            telemetry.update(message.samples, message.samples)
        for item_id in message.dropped or ():
            telemetry.drop(item_id)
