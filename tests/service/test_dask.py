"""The dask engine against a real local cluster: a scheduler and two worker processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from moderate.service.batch import model_loads, score_files
from tests.service.helpers import free_port
from tests.service.test_batch import write_dump

DASK = Path(sys.executable).parent / "dask"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `dask scheduler` and two `dask worker` processes on 127.0.0.1; stop them after."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    quiet = ["--no-dashboard"]
    commands = [
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), *quiet],
        *[
            [str(DASK), "worker", address, "--host", "127.0.0.1", "--nthreads", "1", *quiet,
             "--name", f"w{i}", "--local-directory", str(logs / f"w{i}")]
            for i in range(2)
        ],
    ]  # fmt: skip
    processes = []
    try:
        for i, command in enumerate(commands):
            with (logs / f"{i}.log").open("wb") as log:  # the child keeps its own descriptor
                processes.append(subprocess.Popen(command, stdout=log, stderr=log))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_dask_engine_gives_the_same_output_as_local(
    scheduler: str, artifacts: Path, tmp_path: Path
) -> None:
    model = (artifacts / "current").resolve()
    with Client(scheduler) as client:
        before = client.run(model_loads)
    dumps = [write_dump(tmp_path / f"d{i}.jsonl", n) for i, n in enumerate((700, 45))]
    local = score_files(dumps, tmp_path / "local.csv", model=model, batch_size=100)
    remote = score_files(
        dumps,
        tmp_path / "dask.csv",
        model=model,
        engine="dask",
        scheduler=scheduler,
        batch_size=100,
    )
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert (remote.read, remote.scored, remote.flagged) == (local.read, local.scored, local.flagged)
    with Client(scheduler) as client:
        after = client.run(model_loads)
    loads = sorted(after[w] - before[w] for w in after)
    assert loads == [1, 1], "the model is loaded once on each worker"


def test_dask_engine_writes_parquet_too(scheduler: str, artifacts: Path, tmp_path: Path) -> None:
    model = (artifacts / "current").resolve()
    dump = write_dump(tmp_path / "d.jsonl", 120)
    score_files([dump], tmp_path / "local.parquet", model=model, batch_size=25)
    score_files(
        [dump], tmp_path / "dask.parquet", model=model, engine="dask", scheduler=scheduler,
        batch_size=25,
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "dask.parquet"), pd.read_parquet(tmp_path / "local.parquet")
    )
