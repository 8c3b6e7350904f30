"""``codecbench warmup``: compiles the built-in kernels in subprocesses; bad tasks and failing
tasks are one-line errors."""

from __future__ import annotations

import json

import pytest

from codecbench.cli import main
from codecbench.errors import CodecbenchError
from codecbench.executor import warmup


def test_listed_tasks_cover_every_warmed_codec_and_formulation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["warmup", "--list", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)
    assert tasks == warmup.task_names() and len(set(tasks)) == len(tasks)
    assert {t.split(":")[1] for t in tasks if t.startswith("codec:")} == set(warmup.CODECS)
    assert {t.split(":")[1] for t in tasks if t.startswith("pair:")} == set(warmup.FORMULATIONS)
    # round robin keeps every task exactly once, in order within a job
    shares = warmup._split(tasks, 3)
    assert sorted(sum(shares, [])) == sorted(tasks) and shares[0][:2] == [tasks[0], tasks[3]]


def test_warm_runs_tasks_in_subprocesses(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["warmup", "--tasks", "codec:raw:257,pair:pq-element:raw:float32", "--jobs", "2", "--json"]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tasks"] == ["codec:raw:257", "pair:pq-element:raw:float32"] and record["jobs"] == 2
    assert record["seconds"] > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tasks", "codec:nope:2"], "unknown task 'codec:nope:2'"),
        (["--jobs", "0"], "--jobs must be >= 1"),
    ],
)
def test_bad_options_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["warmup", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_failing_task_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # the subprocess sees the real task list: a task this process accepts fails there, by name
    monkeypatch.setattr(warmup, "task_names", lambda: ["pair:no-such-formulation:raw:float32"])
    with pytest.raises(CodecbenchError, match=r"warmup failed: task pair:no-such-formulation:raw:float32: ") as info:
        warmup.warm(jobs=1)
    assert "\n" not in str(info.value)
