"""An agent's shutdown ends every task, even one that swallowed its cancellation."""

from __future__ import annotations

import asyncio

from runyard.launch.agent.loop import cancel_all


async def _stubborn(swallowed: list[bool]) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        # What Python 3.11's wait_for does when a cancel lands as its timeout fires: the
        # cancellation is gone, and the task goes on (a heartbeat loop retried forever).
        swallowed.append(True)
    await asyncio.sleep(3600)


def test_a_task_that_swallowed_its_cancellation_is_cancelled_again() -> None:
    async def stop() -> tuple[bool, bool, list[bool]]:
        swallowed: list[bool] = []
        stubborn = asyncio.create_task(_stubborn(swallowed))
        plain = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)  # both are waiting now
        await asyncio.wait_for(cancel_all([stubborn, plain], grace_s=0.01), 10)
        return stubborn.cancelled(), plain.cancelled(), swallowed

    assert asyncio.run(stop()) == (True, True, [True])


def test_a_task_that_failed_does_not_stop_the_others_from_ending() -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    async def stop() -> tuple[bool, bool]:
        failed = asyncio.create_task(fail())
        waiting = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        await cancel_all([failed, waiting], grace_s=0.01)
        return failed.done(), waiting.cancelled()

    assert asyncio.run(stop()) == (True, True)
