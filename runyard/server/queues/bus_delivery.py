"""What a bus message does in this process: wake waiting claims, or refresh a capacity."""

from __future__ import annotations

from runyard.server.cluster.messages import BusMessage
from runyard.server.queues.capacity_board import CapacityBoard
from runyard.server.queues.wakeup import Wakeup


def deliver(message: BusMessage, wakeup: Wakeup, board: CapacityBoard) -> None:
    """Apply one message (from this process or another) to the local wake-up state."""
    if message.kind == "work":
        wakeup.notify()
    elif message.kind == "capacity" and message.agent_id and message.capacity is not None:
        board.update(message.agent_id, message.capacity)
