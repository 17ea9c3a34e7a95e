"""Coalesce concurrent scoring requests into one `Model.score` call.

A call to the model costs a few milliseconds whatever its size (pipeline and validation
overhead) plus about a millisecond per comment, so under load many single-comment
requests scored together cost far less than scored one by one. Nothing waits for a
batch to fill: whatever is queued when the model becomes free is scored at once, so an
idle server answers exactly as fast as without batching.

Heavy requests (explained, or more characters than `heavy_chars`) are not batched: they
take their own lane, one at a time, so a big request never holds up the small ones
queued behind it (measured: one explained request of 100 comments of 5,000 characters
held every other request for 15 s). The lane scores in chunks too small for the engine's
thread pool, so the batch pass stays the only user of that pool (numba's workqueue
threading layer must not be entered from two threads at once). And one request's failure
is its own: if a shared batch fails, each request in it is scored again alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from moderate.model.engine import SERIAL_BELOW
from moderate.model.predict import Model, Scored


@dataclass
class _Job:
    model: Model
    texts: Sequence[str]
    explain: bool
    done: asyncio.Future[list[Scored]]


HEAVY_CHARS = 200_000  # tens of milliseconds of scoring: past that, a request goes alone
HEAVY_CHUNK = SERIAL_BELOW - 1  # comments per call in the heavy lane: the engine runs serial


class Batcher:
    """Queue of scoring jobs served by one task, per event loop, and a lane for heavy ones."""

    def __init__(self, max_comments: int, heavy_chars: int = HEAVY_CHARS) -> None:
        self.max_comments = max_comments
        self.heavy_chars = heavy_chars
        self.heavy_in_progress = 0
        self._serving: tuple[asyncio.Queue[_Job], asyncio.Task[None]] | None = None
        self._heavy: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    async def score(
        self, model: Model, texts: Sequence[str], explain: bool, second_opinion: bool = False
    ) -> list[Scored]:
        """Score texts with model, possibly together with other requests' texts.

        The second opinion goes in the heavy lane: one encoder call at a time, and the
        light requests never wait behind it.
        """
        if explain or second_opinion or sum(map(len, texts)) > self.heavy_chars:
            return await self._score_alone(model, texts, explain, second_opinion)
        loop = asyncio.get_running_loop()
        serving = self._serving
        if serving is None or serving[1].get_loop() is not loop or serving[1].done():
            queue: asyncio.Queue[_Job] = asyncio.Queue()
            serving = self._serving = (queue, loop.create_task(self._serve(queue)))
        job = _Job(model, texts, explain, loop.create_future())
        await serving[0].put(job)
        return await job.done

    async def _score_alone(
        self, model: Model, texts: Sequence[str], explain: bool, second_opinion: bool = False
    ) -> list[Scored]:
        loop = asyncio.get_running_loop()
        if self._heavy is None or self._heavy[0] is not loop:
            self._heavy = (loop, asyncio.Lock())
        async with self._heavy[1]:
            self.heavy_in_progress += 1
            try:
                results: list[Scored] = []
                for start in range(0, len(texts), HEAVY_CHUNK):
                    chunk = texts[start : start + HEAVY_CHUNK]
                    results += await run_in_threadpool(
                        model.score, chunk, explain, 10, second_opinion
                    )
                return results
            finally:
                self.heavy_in_progress -= 1

    async def stop(self) -> None:
        """Cancel the serving task (at shutdown)."""
        if self._serving is not None:
            task = self._serving[1]
            self._serving = None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task

    async def _serve(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            jobs = [await queue.get()]
            size = len(jobs[0].texts)
            while not queue.empty() and size < self.max_comments:
                jobs.append(queue.get_nowait())
                size += len(jobs[-1].texts)
            groups: dict[tuple[int, bool], list[_Job]] = {}
            for job in jobs:  # a reload may put two models in one batch: never mix them
                groups.setdefault((id(job.model), job.explain), []).append(job)
            for group in groups.values():
                await self._run(group)

    async def _run(self, group: list[_Job]) -> None:
        texts = [text for job in group for text in job.texts]
        try:
            results = await run_in_threadpool(group[0].model.score, texts, group[0].explain)
        except Exception as exc:
            if len(group) > 1:  # find the request that failed: the others must not pay for it
                for job in group:
                    await self._run([job])
                return
            if not group[0].done.done():
                group[0].done.set_exception(exc)
            return
        start = 0
        for job in group:
            if not job.done.done():  # a client that went away cancelled its future
                job.done.set_result(results[start : start + len(job.texts)])
            start += len(job.texts)
