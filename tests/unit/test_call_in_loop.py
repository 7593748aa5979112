"""Scheduling onto a worker's loop from another thread, whatever state that loop is in."""

from __future__ import annotations

import asyncio
import threading

from tidings.engine.threads import call_in_loop


def test_a_call_reaches_a_running_loop_from_another_thread() -> None:
    done = threading.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()
        threading.Thread(target=call_in_loop, args=(loop, arrived.set)).start()
        await asyncio.wait_for(arrived.wait(), 5)
        done.set()

    asyncio.run(main())
    assert done.is_set()


def test_a_loop_that_closed_after_it_was_looked_at_is_left_alone() -> None:
    # the race a stopping worker had: the loop was open when stop() looked and closed
    # before its second call_soon_threadsafe; call_in_loop never checks first
    loop = asyncio.new_event_loop()
    loop.close()
    calls: list[int] = []
    call_in_loop(loop, calls.append, 1)
    call_in_loop(None, calls.append, 2)
    assert calls == []
