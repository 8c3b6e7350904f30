"""Hardening beyond fuzzing (issue 9): concurrent readers, interrupted writes, resource bounds.

- **Concurrency**: 8 threads running inference from one opened store (one shared model, and
  one model per thread over the same reader) give outputs bit-identical to a single-threaded
  run; so do two processes reading one store at the same time.
- **Interrupted writes**: a writer process is SIGKILLed at several random points of writing a
  store (a directory and a ``.zip``); the destination is then either absent or a complete
  store that verifies, anything left behind is a hidden ``.NAME.tmp-*`` sibling
  (``specs/store-format.md`` §8), and the next write to that destination succeeds.
- **Resource bounds**: stores whose metadata claims absurd sizes (shape 2**40, n_symbols
  2**42, huge array records, a forged tiny payload claiming 2**40 symbols, a plain tensor of
  2**40 elements) are rejected with a one-line codecbench error, in a process whose address
  space is capped a few hundred MB above what it uses: any allocation from the claimed sizes
  would raise MemoryError instead.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import google_crc32c
import numpy as np
import pytest
import torch
from tinynet import TinyNet

import codecbench
from codecbench.compression import compress_state_dict
from codecbench.errors import CodecbenchError
from codecbench.store.config import StoreConfig
from codecbench.store.reader import StoreReader
from codecbench.store.writer import TensorPlan, write_store

TESTS = Path(__file__).parent
N_THREADS = 8


# --------------------------------------------------------------------------- concurrency


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TinyNet with a different formulation + codec per layer kind, so every decode path runs."""
    torch.manual_seed(3)
    net = TinyNet().eval()
    config = StoreConfig.from_dict(
        {
            "default": {"formulation": "float-split", "codec": "huffman-fast"},
            "rules": [
                {"match": "features.2.*", "formulation": "element", "codec": "wavelet-tree"},
                {"match": "head.0.weight", "formulation": "block", "codec": "raw"},
            ],
        }
    )
    path = tmp_path_factory.mktemp("concurrency") / "tiny.zarr"
    compress_state_dict(net.state_dict(), path, config, progress=False)
    return path


def inputs(count: int) -> list[torch.Tensor]:
    return [torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(i)) for i in range(count)]


def reference_outputs(path: Path, xs: list[torch.Tensor]) -> list[bytes]:
    model = codecbench.open(path).load_model(TinyNet())
    with torch.inference_mode():
        return [model(x).numpy().tobytes() for x in xs]


def run_threads(target, count: int) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:  # reported below with the thread's index
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise AssertionError(f"thread {errors[0][0]} failed: {errors[0][1]!r}") from errors[0][1]
    return results


def test_threads_share_one_model(tiny_store: Path) -> None:
    """8 threads, one store, one model (cold: the first forwards race to fetch every chunk)."""
    xs = inputs(N_THREADS)
    expected = reference_outputs(tiny_store, xs)
    model = codecbench.open(tiny_store).load_model(TinyNet())

    def infer(i: int) -> list[bytes]:
        with torch.inference_mode():
            return [model(xs[(i + r) % N_THREADS]).numpy().tobytes() for r in range(3)]

    for i, outs in enumerate(run_threads(infer, N_THREADS)):
        for r, out in enumerate(outs):
            assert out == expected[(i + r) % N_THREADS], f"thread {i}, pass {r}: outputs differ"


def test_threads_load_models_from_one_reader(tiny_store: Path) -> None:
    """8 threads each build their own model from one opened store (shared reader and chunks),
    while also decoding whole tensors through the same reader."""
    xs = inputs(N_THREADS)
    expected = reference_outputs(tiny_store, xs)
    store = codecbench.open(tiny_store)

    def infer(i: int) -> bytes:
        model = store.load_model(TinyNet())
        store.verify(store.keys()[i % len(store.keys())])
        with torch.inference_mode():
            return model(xs[i]).numpy().tobytes()

    for i, out in enumerate(run_threads(infer, N_THREADS)):
        assert out == expected[i], f"thread {i}: outputs differ"


PROCESS_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    sys.path.insert(0, sys.argv[3])
    from tinynet import TinyNet
    import codecbench

    torch.set_num_threads(1)  # as the test's own process: a summation order that load cannot change
    store = codecbench.open(sys.argv[1])
    model = store.load_model(TinyNet())
    xs = [torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    with torch.inference_mode():
        out = np.stack([model(x).numpy() for x in xs])
    for name in store.keys():
        store.verify(name)
    np.save(sys.argv[2], out, allow_pickle=False)
    """
)


def test_two_processes_read_one_store(tiny_store: Path, tmp_path: Path) -> None:
    """Another process opens and runs the store while this one does too: identical outputs.

    Both compute on one torch thread: with more, MKL may use fewer threads than asked when the
    machine is busy (MKL_DYNAMIC), and a different split sums in a different order."""
    xs = inputs(4)
    out = tmp_path / "out.npy"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    proc = subprocess.Popen(
        [sys.executable, "-c", PROCESS_SCRIPT, str(tiny_store), str(out), str(TESTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        runs = []
        while proc.poll() is None or not runs:  # read the store over and over while the other process does
            runs.append(reference_outputs(tiny_store, xs))
            time.sleep(0.2)
        _, err = proc.communicate(timeout=300)
    finally:
        torch.set_num_threads(threads)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert all(run == runs[0] for run in runs)
    expected = np.stack([np.frombuffer(b, dtype=np.float32) for b in runs[0]])
    got = np.load(out, allow_pickle=False)
    assert got.reshape(expected.shape).tobytes() == expected.tobytes()


# --------------------------------------------------------------------------- interrupted writes

#: a writer "zygote": imports codecbench once, then forks one writer per destination read from
#: stdin (before zarr starts its event-loop thread, so the fork is clean), prints the child's
#: pid, reaps it and prints its exit status. The test SIGKILLs the child mid-write.
ZYGOTE = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from codecbench.registry import get_registry
    from codecbench.store.writer import TensorPlan, write_store

    get_registry()
    state = dict(np.load(sys.argv[1], allow_pickle=False))
    plans = {k: TensorPlan(formulation="element", codec="wavelet-tree") if v.ndim >= 2 else TensorPlan.plain()
             for k, v in state.items()}
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                write_store(line.strip(), state, plans, {"model": None}, progress=False, overwrite=True)
            except BaseException as exc:
                print("child error:", repr(exc), file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)
    """
)


def kill_state() -> dict[str, np.ndarray]:
    """24 small tensors: about 50 objects to write, so there is time to kill the writer mid-way."""
    rng = np.random.default_rng(5)
    state = {}
    for i in range(12):
        state[f"layer{i:02d}.weight"] = (rng.integers(-8, 8, size=(48, 40)) * 0.125).astype(np.float32)
        state[f"layer{i:02d}.bias"] = rng.standard_normal(48).astype(np.float32)
    return state


def store_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path)) if path.exists() else 0


def check_destination(dest: Path, state: dict[str, np.ndarray]) -> str:
    """Absent, or complete and verifying; only hidden temp siblings besides it."""
    siblings = sorted(p.name for p in dest.parent.iterdir() if p.name != dest.name)
    stray = [s for s in siblings if not (s.startswith(f".{dest.name}.tmp-") or s.startswith(f".{dest.name}.old-"))]
    assert not stray, f"unexpected files next to the destination: {stray}"
    if not dest.exists():
        return "absent"
    reader = StoreReader(zarr_store(dest), str(dest))
    assert reader.keys() == list(state)
    for name, tensor in state.items():
        reader.verify(name)
        assert reader.tensor(name).tobytes() == tensor.tobytes()
    return "complete"


def zarr_store(dest: Path):
    from codecbench.store.location import open_read_store, parse_location

    return open_read_store(parse_location(dest))


@pytest.mark.parametrize("suffix", [".zarr", ".zip"])
def test_sigkill_during_write(tmp_path: Path, suffix: str) -> None:
    """SIGKILL a writer at random points (by how many objects it has written, or right after
    it published); the destination is absent or complete, and a new write to it succeeds."""
    state = kill_state()
    npz = tmp_path / "state.npz"
    np.savez(npz, **state)
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE, str(npz)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rng = random.Random(int(os.environ.get("CODECBENCH_KILL_SEED", "9")) + len(suffix))
    outcomes = []
    try:
        # a complete write first: how many objects a store has
        full = tmp_path / "full" / f"model{suffix}"
        full.parent.mkdir()
        zygote.stdin.write(f"{full}\n")
        zygote.stdin.flush()
        int(zygote.stdout.readline())
        assert int(zygote.stdout.readline()) == 0, zygote.stderr.read()
        check_destination(full, state)
        total = store_files(full) if suffix == ".zarr" else 50
        # kill points: objects written before the kill (0 = at once, None = once published)
        points = [0, None, *rng.sample(range(1, total), 3 if suffix == ".zarr" else 2)]
        for i, point in enumerate(points):
            dest = tmp_path / f"run{i}" / f"model{suffix}"
            dest.parent.mkdir()
            zygote.stdin.write(f"{dest}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if point == 0:
                    break
                if dest.exists() and (point is None or suffix == ".zip"):
                    break
                temps = [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.tmp-")]
                if point is not None and sum(store_files(t) for t in temps) >= point:
                    break
                if dest.exists():
                    break
                time.sleep(0.0005)
            os.kill(pid, signal.SIGKILL)
            status = int(zygote.stdout.readline())
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            outcome = check_destination(dest, state)
            outcomes.append((point, "killed" if killed else "finished", outcome))
            if i < 2 or outcome == "absent":  # the next write to the destination succeeds
                write_store(dest, state, _plans(state), {"model": None}, progress=False, overwrite=True)
                assert check_destination(dest, state) == "complete"
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
    assert any(kind == "killed" for _, kind, _ in outcomes), outcomes
    assert {o for _, _, o in outcomes} <= {"absent", "complete"}
    print(f"SIGKILL points (objects written, outcome): {outcomes}")


def _plans(state: dict[str, np.ndarray]) -> dict[str, TensorPlan]:
    return {
        k: TensorPlan(formulation="element", codec="wavelet-tree") if v.ndim >= 2 else TensorPlan.plain()
        for k, v in state.items()
    }


# --------------------------------------------------------------------------- resource bounds


def _crc(blob: bytes) -> bytes:
    return struct.pack("<I", google_crc32c.value(blob))


def _rewrite_chunk(path: Path, name: str, edit) -> None:
    """Apply ``edit(header, sections, payload) -> (header, sections, payload)`` to a tensor's
    chunk, re-laid-out and with its CRC recomputed (so only the validators can object)."""
    sys.path.insert(0, str(TESTS))
    from test_fuzz import relayout, split_chunk

    chunk_path = next(p for p in (path / name / "c").rglob("*") if p.is_file())
    header, sections, payload = split_chunk(chunk_path.read_bytes()[:-4])
    body = relayout(*edit(header, sections, payload))
    chunk_path.write_bytes(body + _crc(body))


def _set_metadata(path: Path, name: str, key: str, value) -> None:
    """Set ``key`` of a tensor's record, in the array zarr.json and the consolidated copy."""
    for doc_path, prefix in ((path / name / "zarr.json", []), (path / "zarr.json", ["consolidated_metadata"])):
        doc = json.loads(doc_path.read_text())
        node = doc
        for step in prefix:
            node = node[step]
        node = node["metadata"][name] if prefix else node
        if key == "shape":
            node["shape"] = value
            node["chunk_grid"]["configuration"]["chunk_shape"] = value
        node["attributes"]["codecbench"][key] = value
        doc_path.write_text(json.dumps(doc))


def absurd_stores(root: Path) -> dict[str, Path]:
    """Stores whose metadata (or a CRC-consistent chunk) claims absurd sizes."""
    import shutil

    rng = np.random.default_rng(0)
    tensors = {
        "w": (rng.integers(-4, 4, size=(8, 6)) * 0.5).astype(np.float32),
        "c": np.full((1, 64), 0.25, dtype=np.float32),  # one unit of one value: a zero-bit wavelet tree
        "b": rng.standard_normal(8).astype(np.float32),
    }
    plans = {
        "w": TensorPlan(formulation="element", codec="raw"),
        "c": TensorPlan(formulation="element", codec="wavelet-tree"),
        "b": TensorPlan.plain(),
    }
    base = root / "base.zarr"
    write_store(base, tensors, plans, {"model": None}, progress=False)
    stores = {}

    def variant(label: str) -> Path:
        path = root / f"{label}.zarr"
        shutil.copytree(base, path)
        stores[label] = path
        return path

    # a plain tensor claiming 2**40 elements (array metadata, chunk grid and record agree)
    _set_metadata(variant("plain-shape-2**40"), "b", "shape", [2**40])
    # a chunk header and record claiming shape (2**20, 2**20)
    p = variant("header-shape-2**40")
    _set_metadata(p, "w", "shape", [2**20, 2**20])
    _rewrite_chunk(p, "w", lambda h, s, pl: ({**h, "shape": [2**20, 2**20], "n_units": 2**20}, s, pl))
    # n_symbols 2**42
    _rewrite_chunk(variant("n_symbols-2**42"), "w", lambda h, s, pl: ({**h, "n_symbols": 2**42}, s, pl))

    # an array record of 2**40 elements
    def huge_array(h, s, pl):
        arrays = [dict(r) for r in h["arrays"]]
        arrays[0].update(shape=[2**40], nbytes=2**42)
        return {**h, "arrays": arrays}, s, pl

    _rewrite_chunk(variant("array-record-2**40"), "w", huge_array)

    # a forged, internally consistent chunk: one value repeated 2**40 - 1 times in a zero-bit
    # wavelet tree (n patched in its header): a 4 TiB tensor in a few hundred bytes
    def forged(h, s, pl):
        payload = bytearray(pl)
        payload[16:24] = struct.pack("<Q", 2**40 - 1)
        header = {**h, "shape": [1, 2**40 - 1], "n_units": 1, "n_symbols": 2**40 - 1}
        return header, s, bytes(payload)

    p = variant("forged-2**40-symbols")
    _set_metadata(p, "c", "shape", [1, 2**40 - 1])
    _rewrite_chunk(p, "c", forged)
    return stores


BOUNDS_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    from codecbench.errors import CodecbenchError
    from codecbench.store.reader import open_store

    stores = json.loads(sys.argv[1])
    # warm up every code path (imports, numba caches, zarr's event loop) on a sane store
    sane = open_store(stores.pop("base"))
    for name in sane.keys():
        sane.verify(name)
    # cap the address space a little above what the process uses now
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (used + 512 * 2**20, resource.RLIM_INFINITY))
    results = {}
    for label, path in stores.items():
        outcome = []
        try:
            store = open_store(path)
            for name in store.keys():
                try:
                    store.verify(name)
                    outcome.append(f"{name}: ok")
                except CodecbenchError as exc:
                    outcome.append(f"{name}: {type(exc).__name__}: {exc}")
        except CodecbenchError as exc:
            outcome.append(f"store: {type(exc).__name__}: {exc}")
        results[label] = outcome
    print(json.dumps(results))
    """
)


def test_absurd_sizes_rejected_before_allocation(tmp_path: Path) -> None:
    """Absurd claims end in a one-line codecbench error naming the tensor, under an address-space
    cap (a MemoryError, or any other exception, would fail the subprocess)."""
    stores = absurd_stores(tmp_path)
    paths = {label: str(p) for label, p in stores.items()}
    paths["base"] = str(tmp_path / "base.zarr")
    proc = subprocess.run(
        [sys.executable, "-c", BOUNDS_SCRIPT, json.dumps(paths)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    bad = {"plain-shape-2**40": "b", "header-shape-2**40": "w", "n_symbols-2**42": "w"}
    bad.update({"array-record-2**40": "w", "forged-2**40-symbols": "c"})
    for label, tensor in bad.items():
        lines = {line.split(":")[0]: line for line in results[label]}
        assert f"'{tensor}'" in lines[tensor] and "Error" in lines[tensor], (label, results[label])
        for other, line in lines.items():
            if other != tensor:
                assert line.endswith(": ok"), (label, line)
    # the same stores in this process: the errors are codecbench errors, one line each
    for label, tensor in bad.items():
        with pytest.raises(CodecbenchError) as excinfo:
            codecbench.open(stores[label]).verify(tensor)
        assert "\n" not in str(excinfo.value) and repr(tensor) in str(excinfo.value)
