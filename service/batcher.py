"""Coalesce concurrent scoring requests into one `Model.score` call.

A call to the model costs a few milliseconds whatever its size (pipeline and validation
overhead) plus about a millisecond per comment, so under load many single-comment
requests scored together cost far less than scored one by one. Nothing waits for a
batch to fill: whatever is queued when the model becomes free is scored at once, so an
idle server answers exactly as fast as without batching.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from model.predict import Model, Scored


@dataclass
class _Job:
    model: Model
    texts: Sequence[str]
    explain: bool
    done: asyncio.Future[list[Scored]]


class Batcher:
    """Queue of scoring jobs served by one task, per event loop."""

    def __init__(self, max_comments: int) -> None:
        self.max_comments = max_comments
        self._serving: tuple[asyncio.Queue[_Job], asyncio.Task[None]] | None = None

    async def score(self, model: Model, texts: Sequence[str], explain: bool) -> list[Scored]:
        """Score texts with model, possibly together with other requests' texts."""
        loop = asyncio.get_running_loop()
        serving = self._serving
        if serving is None or serving[1].get_loop() is not loop or serving[1].done():
            queue: asyncio.Queue[_Job] = asyncio.Queue()
            serving = self._serving = (queue, loop.create_task(self._serve(queue)))
        job = _Job(model, texts, explain, loop.create_future())
        await serving[0].put(job)
        return await job.done

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

    @staticmethod
    async def _run(group: list[_Job]) -> None:
        texts = [text for job in group for text in job.texts]
        try:
            results = await run_in_threadpool(group[0].model.score, texts, group[0].explain)
        except Exception as exc:  # each waiting request gets the error, the loop goes on
            for job in group:
                if not job.done.done():
                    job.done.set_exception(exc)
            return
        start = 0
        for job in group:
            if not job.done.done():  # a client that went away cancelled its future
                job.done.set_result(results[start : start + len(job.texts)])
            start += len(job.texts)
