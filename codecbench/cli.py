"""The ``codecbench`` command line.

Errors the user can fix print one line, ``codecbench: error: ...``, and exit 2 (a traceback
only with ``--debug``). ``run --check`` exits 1 when outputs differ from the dense model.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

from codecbench.errors import CodecbenchError, ConfigError

EXIT_USAGE = 2
EXIT_MISMATCH = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        raise ConfigError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codecbench", description="Run neural networks straight from losslessly compressed weights.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("compress", help="compress a model into a store")
    p.add_argument("model", help="built-in model: alexnet, vgg16")
    p.add_argument(
        "--weights", default="init:0", help="init:SEED, laplace:SEED, or a .pth/.safetensors file (default init:0)"
    )
    p.add_argument("--formulation", help="formulation for every weight tensor (default element)")
    p.add_argument("--codec", help="codec for every weight tensor (default raw)")
    p.add_argument("--config", help="TOML file mapping tensor-name patterns to formulation/codec/params")
    p.add_argument(
        "-o", "--output", required=True, help="store to create: a directory, a .zip file, or a URL (s3://bucket/m.zarr)"
    )
    p.add_argument(
        "--prune",
        action="store_true",
        help="prune and quantize first (lossy, Deep Compression style; defaults: conv keep 0.4 / 8 bits, "
        "fc keep 0.1 / 5 bits)",
    )
    p.add_argument("--prune-config", help="TOML file with prune/quantize defaults and per-tensor rules (needs --prune)")
    p.add_argument("--force", action="store_true", help="replace an existing store")
    p.add_argument(
        "--auto",
        choices=["size", "speed", "balanced"],
        help="per weight tensor, measure every (formulation, codec) pair and keep the smallest (size), the "
        "fastest to extract+decode (speed), or the smallest within 1.5x of the fastest (balanced)",
    )
    p.add_argument(
        "--auto-codecs",
        help="comma-separated codecs --auto considers (default: every registered codec but the paper's huffman)",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS|local[:N]",
        help="encode tensors on a Dask cluster: a scheduler address (tcp://host:8786) or a local cluster of N "
        "worker processes (needs codecbench[dask]); the store is byte-identical to a serial compress",
    )
    _add_storage_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    p = sub.add_parser("info", help="per-tensor formulation, codec and sizes")
    p.add_argument("store", help=STORE_HELP)
    _add_storage_options(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="run inference from the compressed store")
    p.add_argument("store", help=STORE_HELP)
    _add_storage_options(p)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--check", action="store_true", help="also run the dense model; exit 1 unless bit-identical")
    p.add_argument("--dense", action="store_true", help="run the dense (decoded) model only, for comparison")
    p.add_argument(
        "--group-weights",
        type=int,
        default=None,
        help="weights decoded at once per layer group (default: 4M; 1M for linear layers at batch 1)",
    )
    p.add_argument("--repeat", type=int, default=1, help="forward passes to time (median reported)")
    p.add_argument("--warmup", type=int, default=0, help="untimed forward passes first (default 0)")
    p.add_argument(
        "--cache-mb",
        type=float,
        default=0.0,
        help="decoded-unit cache budget in MiB: decoded weight groups kept (LRU) across passes (default 0: none)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads that extract and decode ahead (default: cores, max 2; 0: none)",
    )
    p.add_argument("--depth", type=int, default=None, help="unit groups decoded ahead of the computing one (default 2)")
    p.add_argument(
        "--sparse-compute",
        action="store_true",
        help="compute pq-* linear layers straight from the sparse (gap, value) form; NOT bit-exact "
        "(a different summation order): --check then reports the outputs as not bit-identical",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        metavar="REL",
        help="with --check: also accept outputs within REL x max|dense| of the dense ones (reported as "
        "'within tolerance, NOT bit-identical')",
    )
    p.add_argument("--profile", action="store_true", help="time per layer: extract (select+extract), decode, compute")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("verify", help="decode every tensor and check its sha256")
    p.add_argument("store", help=STORE_HELP)
    _add_storage_options(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("plugins", help="list registered codecs and formulations")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", help="compare every (formulation, codec) pair on AlexNet / VGG-16, sizes and speed")
    p.add_argument("--models", default="alexnet,vgg16", help="comma-separated: alexnet, vgg16")
    p.add_argument("--weights", default="laplace:0", help="weight source (default laplace:0)")
    p.add_argument("--pq", default="no,yes", help="no, yes or no,yes: without / with prune + quantize")
    p.add_argument("--codecs", help="comma-separated codec names (default: every registered codec)")
    p.add_argument("--formulations", help="comma-separated formulation names (default: every registered one)")
    p.add_argument("--batch", default=None, help="batch sizes for inference timing (default 1,8; --quick: 1)")
    p.add_argument(
        "--repeat", type=int, default=None, help="timed repetitions per measurement, median (default 3; --quick: 1)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="AlexNet, convs and the last fc only; inference of dense, wavelet-tree and the Huffmans only (CI)",
    )
    p.add_argument(
        "--huffman-max-symbols",
        type=int,
        default=None,
        help="code layers of at most this many symbols with the paper's ~1 M symbols/s huffman (default 2**23)",
    )
    p.add_argument("-o", "--output", default="bench-out", help="directory for results.json, tables.md, CSV, plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the results JSON path and totals as JSON")
    return parser


STORE_HELP = "a store: directory, .zip file, or fsspec URL (s3://bucket/m.zarr, memory://m.zarr)"


def _add_storage_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage-options",
        metavar="JSON",
        help='fsspec options for URL stores, a JSON object, e.g. \'{"endpoint_url": "http://host:9000"}\' '
        "(credentials: AWS_* environment variables or ~/.aws)",
    )


def _storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    text = getattr(args, "storage_options", None)
    if text is None:
        return None
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--storage-options: not valid JSON ({exc})") from None
    if not isinstance(options, dict):
        raise ConfigError("--storage-options: must be a JSON object")
    return options


def _open_store(args: argparse.Namespace) -> Any:
    import codecbench

    return codecbench.open(args.store, storage_options=_storage_options(args))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except CodecbenchError as exc:
        if debug:
            raise
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("codecbench: interrupted", file=sys.stderr)
        return 130


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text)


def cmd_compress(args: argparse.Namespace) -> int:
    from codecbench.compress import compress_model
    from codecbench.store.config import StoreConfig

    if args.config and (args.formulation or args.codec):
        raise ConfigError("--config cannot be combined with --formulation/--codec")
    if args.auto and (args.config or args.formulation or args.codec):
        raise ConfigError("--auto chooses formulation and codec per tensor; drop --config/--formulation/--codec")
    if args.auto_codecs and not args.auto:
        raise ConfigError("--auto-codecs needs --auto")
    if args.prune_config and not args.prune:
        raise ConfigError("--prune-config needs --prune (pruning is lossy, so it is never implied)")
    if args.config:
        config = StoreConfig.from_toml(args.config)
    else:
        config = StoreConfig.simple(args.formulation or "element", args.codec or "raw")
    prune = None
    if args.prune:
        from codecbench.models.prune import PruneConfig

        prune = PruneConfig.from_toml(args.prune_config) if args.prune_config else PruneConfig()
    start = time.perf_counter()
    out = compress_model(
        args.model,
        args.weights,
        args.output,
        config,
        overwrite=args.force,
        progress=not (args.quiet or args.json),
        prune=prune,
        storage_options=_storage_options(args),
        dask=args.dask,
        auto=args.auto,
        auto_codecs=[c.strip() for c in args.auto_codecs.split(",") if c.strip()] if args.auto_codecs else None,
    )
    seconds = time.perf_counter() - start
    summary = _store_summary(str(out), _storage_options(args))
    summary["seconds"] = round(seconds, 3)
    _emit(
        args,
        summary,
        f"wrote {out}: {summary['original_bytes']:,} -> {summary['stored_bytes']:,} bytes "
        f"(ratio {summary['ratio']:.3f}) in {seconds:.1f} s",
    )
    return 0


def _store_summary(path: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    import codecbench

    store = codecbench.open(path, storage_options=storage_options)
    rows = []
    for name in store.keys():
        rec = store.info(name)
        rows.append(
            {
                "name": name,
                "storage": rec["storage"],
                "formulation": rec["formulation"],
                "codec": rec["codec"],
                "shape": rec["shape"],
                "dtype": rec["dtype"],
                "original_bytes": rec["original_nbytes"],
                "stored_bytes": rec["stored_nbytes"],
                "ratio": rec["original_nbytes"] / rec["stored_nbytes"] if rec["stored_nbytes"] else None,
                "auto": rec.get("auto"),
            }
        )
    original = sum(r["original_bytes"] for r in rows)
    stored = sum(r["stored_bytes"] for r in rows)
    return {
        "store": path,
        "model": store.model,
        "weights": store.attrs.get("weights"),
        "prune": store.attrs.get("prune"),
        "auto": store.attrs.get("auto"),
        "format_version": store.attrs.get("format_version"),
        "original_bytes": original,
        "stored_bytes": stored,
        "ratio": original / stored if stored else None,
        "tensors": rows,
    }


def cmd_info(args: argparse.Namespace) -> int:
    summary = _store_summary(args.store, _storage_options(args))
    lines = [
        f"{summary['store']}: model {summary['model']}, weights {summary['weights'].get('source')}, "
        f"format {summary['format_version']}",
    ]
    if summary["prune"]:
        pruned = summary["prune"]["tensors"]
        lines.append(
            f"pruned + quantized (lossy; stored losslessly from here): {len(pruned)} tensors, "
            + ", ".join(f"{k} keep {v['keep']:g} bits {v['bits']}" for k, v in pruned.items())
        )
    chosen = [r for r in summary["tensors"] if r.get("auto")]
    if chosen:
        lines.append(f"--auto {summary['auto']['objective']}: per tensor, the choice among the measured candidates:")
        for r in chosen:
            measured = [c for c in r["auto"]["candidates"] if c["stored_bytes"] is not None]
            runner_up = sorted(measured, key=lambda c: c["stored_bytes"])[:3]
            lines.append(
                f"  {r['name']}: {r['auto']['chosen']} of {len(measured)} measured; smallest: "
                + ", ".join(f"{c['pair']} {c['stored_bytes']:,} B {c['decode_s'] * 1e3:.1f} ms" for c in runner_up)
            )
    lines += [
        f"{'tensor':<24} {'formulation':<12} {'codec':<10} {'original':>13} {'stored':>13} {'ratio':>7}",
    ]
    for r in summary["tensors"]:
        lines.append(
            f"{r['name']:<24} {r['formulation'] or 'plain':<12} {r['codec'] or '-':<10} "
            f"{r['original_bytes']:>13,} {r['stored_bytes']:>13,} {_ratio(r['ratio'])}"
        )
    lines.append(
        f"{'total':<48} {summary['original_bytes']:>13,} {summary['stored_bytes']:>13,} {_ratio(summary['ratio'])}"
    )
    _emit(args, summary, "\n".join(lines))
    return 0


def _ratio(ratio: float | None) -> str:
    return f"{'-':>7}" if ratio is None else f"{ratio:>7.3f}"  # None: an empty tensor stores no bytes


def cmd_run(args: argparse.Namespace) -> int:
    import statistics

    import torch

    from codecbench.executor.engine import CONV_GROUP_WEIGHTS, DEFAULT_DEPTH, DEFAULT_WORKERS
    from codecbench.executor.runner import model_engine, same_bits, seeded_input, timed_forward

    if args.batch < 1 or args.repeat < 1 or args.warmup < 0:
        raise ConfigError("--batch and --repeat must be >= 1, --warmup >= 0")
    if args.dense and args.check:
        raise ConfigError("--dense and --check exclude each other")
    if args.group_weights is not None and args.group_weights < 1:
        raise ConfigError("--group-weights must be >= 1")
    if (
        args.cache_mb < 0
        or (args.workers is not None and args.workers < 0)
        or (args.depth is not None and args.depth < 1)
    ):
        raise ConfigError("--cache-mb and --workers must be >= 0, --depth >= 1")
    if args.tolerance is not None and (not args.check or args.tolerance < 0):
        raise ConfigError("--tolerance needs --check and a value >= 0")
    if args.dense and (args.sparse_compute or args.profile or args.cache_mb):
        raise ConfigError("--dense runs the plain torch model: no --sparse-compute, --profile or --cache-mb")
    baseline_mb = _peak_rss_mb()  # the interpreter with torch and codecbench imported
    store = _open_store(args)
    x = seeded_input(args.batch, args.seed).to(store.input_dtype())
    group_weights = args.group_weights
    if group_weights is None and args.batch > 1:
        # measured: at batch > 1 a linear layer's many small cache-sized groups cost more in
        # per-call gemm overhead than they save in memory traffic; use the conv group size
        group_weights = CONV_GROUP_WEIGHTS
    if args.dense:
        model = store.dense_model()
    else:
        model = store.load_model(
            group_weights=group_weights,
            cache_bytes=int(args.cache_mb * (1 << 20)),
            workers=DEFAULT_WORKERS if args.workers is None else args.workers,
            depth=args.depth or DEFAULT_DEPTH,
            sparse_compute=args.sparse_compute,
            profile=args.profile,
        )
    engine = model_engine(model)
    loaded_peak_mb = _peak_rss_mb()
    before_forward_mb = _reset_rss_peak()  # so the passes' own peak can be read below
    for _ in range(args.warmup):
        timed_forward(model, x)
    if engine is not None and args.warmup:
        engine.reset_stats()  # profile and cache counters of the timed passes only
    times = []
    for _ in range(args.repeat):
        y, seconds = timed_forward(model, x)
        times.append(seconds)
    result: dict[str, Any] = {
        "store": args.store,
        "model": store.model,
        "mode": "dense" if args.dense else "compressed",
        "batch": args.batch,
        "seed": args.seed,
        "seconds": statistics.median(times),
        "times": times,
        "top1": y.argmax(dim=1).tolist(),
        "peak_rss_mb": max(loaded_peak_mb, _peak_rss_mb()),
        "baseline_rss_mb": baseline_mb,
        "forward_rss_mb": None if before_forward_mb is None else _proc_status_mb("VmHWM") - before_forward_mb,
        "stored_bytes": _stored_bytes(store),
        "torch_threads": torch.get_num_threads(),
    }
    text = (
        f"{result['mode']} {store.model} batch {args.batch}: {result['seconds'] * 1e3:.1f} ms, "
        f"top-1 {result['top1'][:8]}, peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    if engine is not None:
        cache = engine.cache.stats()
        result.update(
            sparse_compute=engine.sparse,
            workers=engine.workers,
            depth=engine.depth,
            cache=cache,
            workset_peak_bytes=engine.workset_peak,
        )
        if engine.sparse:
            text += "\n--sparse-compute: pq-* linear layers computed from the sparse form (NOT bit-exact)"
        if cache["budget_bytes"]:
            text += (
                f"\ncache {cache['budget_bytes'] / 2**20:.1f} MiB: {cache['hits']} hits, {cache['misses']} misses, "
                f"{cache['bytes'] / 2**20:.1f} MiB kept"
            )
        if args.profile:
            layers = [s.as_dict() for s in engine.stats.values()]
            passes = args.repeat
            result["profile"] = {"passes": passes, "layers": layers, "total": _profile_total(layers)}
            text += "\n" + _profile_text(layers, passes)
    if args.json:  # one more (untimed, batch-1) pass for the shapes, after the stats were read
        result["activation_bytes"] = _activation_bytes(model, x)
    code = 0
    if args.check:
        dense = store.dense_model()
        y_dense, dense_seconds = timed_forward(dense, x)
        identical = same_bits(y, y_dense)
        result.update(dense_seconds=dense_seconds, bit_identical=identical)
        verdict = "bit-identical" if identical else "NOT bit-identical"
        if not identical and y.shape == y_dense.shape and y.dtype == y_dense.dtype:
            diff = (y.double() - y_dense.double()).abs().max().item()
            scale = y_dense.double().abs().max().item()
            result["max_abs_diff"] = diff
            verdict += f" (max |diff| {diff:.3g}, max |dense| {scale:.3g})"
            if args.tolerance is not None:
                within = diff <= args.tolerance * scale
                result.update(tolerance=args.tolerance, within_tolerance=within)
                verdict += (
                    f"; within tolerance {args.tolerance:g} (NOT bit-identical)"
                    if within
                    else f"; beyond tolerance {args.tolerance:g}"
                )
                identical = within
        text += f"\ndense: {dense_seconds * 1e3:.1f} ms; outputs {verdict}"
        code = 0 if identical else EXIT_MISMATCH
    _emit(args, result, text)
    if code:
        print("codecbench: error: compressed and dense outputs differ", file=sys.stderr)
    return code


_PROFILE_FIELDS = ("select", "extract", "decode", "compute", "wait", "wall")


def _profile_total(layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: sum(layer[k] for layer in layers) for k in (*_PROFILE_FIELDS, "groups", "symbols", "cache_hits")}


def _profile_text(layers: list[dict[str, Any]], passes: int) -> str:
    """Per layer, ms per pass: extract = select + extract (worker threads), decode (workers),
    compute and wait (the calling thread), wall (elapsed; less than the sum when overlapped)."""
    head = f"{'layer':<24} {'groups':>6} {'extract':>9} {'decode':>9} {'compute':>9} {'wait':>9} {'wall':>9}  (ms/pass)"
    lines = [head]
    rows = [*layers, {"name": "total", **_profile_total(layers)}]
    for layer in rows:
        ms = {k: layer[k] * 1e3 / passes for k in _PROFILE_FIELDS}
        lines.append(
            f"{layer['name']:<24} {layer['groups'] // passes:>6} {ms['select'] + ms['extract']:>9.2f} "
            f"{ms['decode']:>9.2f} {ms['compute']:>9.2f} {ms['wait']:>9.2f} {ms['wall']:>9.2f}"
        )
    return "\n".join(lines)


def _stored_bytes(store: Any) -> int:
    total = 0
    for name in store.keys():
        try:
            total += int(store.info(name).get("stored_nbytes", 0))
        except CodecbenchError:
            pass
    return total


def _activation_bytes(model: Any, x: Any) -> int:
    """The largest input + output of any leaf module in one forward (shape inference on the
    meta device would need dense weights; this runs the model once more on the real input
    only for its shapes, so it is computed after timing)."""
    import torch

    biggest = 0
    hooks = []

    def hook(module: Any, inputs: Any, output: Any) -> None:
        nonlocal biggest
        size = sum(t.numel() * t.element_size() for t in (*inputs, output) if isinstance(t, torch.Tensor))
        biggest = max(biggest, size)

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return biggest * x.shape[0]


def cmd_verify(args: argparse.Namespace) -> int:
    store = _open_store(args)
    results = []
    for name in store.keys():
        try:
            store.verify(name)
            results.append({"name": name, "ok": True})
        except CodecbenchError as exc:
            results.append({"name": name, "ok": False, "error": str(exc)})
    failed = [r for r in results if not r["ok"]]
    if args.json:
        print(json.dumps({"store": args.store, "ok": not failed, "tensors": results}, indent=2))
    if failed:
        raise CodecbenchError(
            f"{len(failed)} of {len(results)} tensors failed verification; first: {failed[0]['error']}"
        )
    if not args.json:
        print(f"{args.store}: all {len(results)} tensors verified (sha256 match)")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from codecbench.registry import get_registry

    entries = [e.as_dict() for e in get_registry().entries()]
    lines = [f"{e['kind']:<12} {e['name']:<16} {e['distribution']} {e['version']} ({e['module']})" for e in entries]
    _emit(args, entries, "\n".join(lines))
    return 0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _proc_status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``: kB there), in MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:")) / 1024.0


def _reset_rss_peak() -> float | None:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs``) and return the RSS now, so
    that ``VmHWM`` later is the forward passes' own peak: ``forward_rss_mb`` is what the passes
    added to memory at their peak (weights fetched and decoded on first use, working buffers,
    activations, torch's workspaces and the code pages they load), without the model load's
    transients. None where unsupported. The reset can lower ``ru_maxrss``, so the caller reads
    that first."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return _proc_status_mb("VmRSS")
    except (OSError, StopIteration, ValueError):
        return None


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from codecbench.bench.compare import BenchConfig, run_bench

    def names(text: str | None) -> list[str] | None:
        return [x.strip() for x in text.split(",") if x.strip()] if text else None

    pq = names(args.pq) or []
    if not pq or set(pq) - {"no", "yes"}:
        raise ConfigError(f"--pq must be no, yes or no,yes, not {args.pq!r}")
    batch_text = args.batch or ("1" if args.quick else "1,8")
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    try:
        batches = [int(b) for b in names(batch_text) or []]
    except ValueError:
        raise ConfigError(f"--batch must be comma-separated integers, not {args.batch!r}") from None
    if not batches or min(batches) < 1 or repeat < 1:
        raise ConfigError("--batch sizes and --repeat must be >= 1")
    if args.huffman_max_symbols is not None and args.huffman_max_symbols < 0:
        raise ConfigError("--huffman-max-symbols must be >= 0")
    models = names(args.models) or []
    if args.quick and args.models == "alexnet,vgg16":
        models = ["alexnet"]
    cfg = BenchConfig(
        models=models,
        weights=args.weights,
        pq=pq,
        codecs=names(args.codecs),
        formulations=names(args.formulations),
        batches=batches,
        quick=args.quick,
        out=Path(args.output),
        reps=repeat,
        progress=not (args.quiet or args.json),
    )
    if args.huffman_max_symbols is not None:
        cfg.slow_max_symbols = args.huffman_max_symbols
    results = run_bench(cfg)
    summary = {
        "output": str(cfg.out),
        "seconds": results["seconds"],
        "outputs": results["outputs"],
        "totals": {
            f"{m}/pq={s}": {label: t["stored_bytes"] for label, t in d["totals"]["all"]["pairs"].items()}
            for m, md in results["models"].items()
            for s, d in md["settings"].items()
        },
    }
    _emit(args, summary, f"wrote {cfg.out}/results.json, tables.md, layers.csv in {results['seconds']:.0f} s")
    return 0


_COMMANDS = {
    "bench": cmd_bench,
    "compress": cmd_compress,
    "info": cmd_info,
    "run": cmd_run,
    "verify": cmd_verify,
    "plugins": cmd_plugins,
}

if __name__ == "__main__":
    raise SystemExit(main())
