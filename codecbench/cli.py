"""The ``codecbench`` command line.

Errors the user can fix print one line, ``codecbench: error: ...``, and exit 2 (a traceback
only with ``--debug``). ``run --check`` exits 1 when outputs differ from the dense model. A
closed output pipe ends a command quietly with 141, as the shell reports SIGPIPE.

This module parses arguments and prints; what each command does lives in its stage
(``codecbench.compression``, ``codecbench.executor.run``, the store reader, ``codecbench.bench``),
which users' scripts and the benchmark call the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from codecbench.errors import CodecbenchError, ConfigError

EXIT_USAGE = 2
EXIT_MISMATCH = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process the pipe killed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        raise ConfigError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codecbench", description="Run neural networks straight from losslessly compressed weights.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("compress", help="compress a model or a checkpoint into a store")
    p.add_argument(
        "model",
        help="built-in model (alexnet, vgg16), or a checkpoint file (.pth/.pt/.safetensors): every tensor is "
        "stored under its own key, no architecture needed",
    )
    p.add_argument(
        "--weights",
        help="weights of a built-in model: init:SEED, laplace:SEED, or a .pth/.safetensors file (default init:0)",
    )
    p.add_argument(
        "--formulation",
        help="formulation for every weight tensor (default: per tensor, float-split for floats, pq-joint "
        "after --prune, pq-element after --prune without weight sharing)",
    )
    p.add_argument("--codec", help="codec for every weight tensor (default huffman-fast)")
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
    p.add_argument(
        "--model",
        metavar="PACKAGE.MODULE:FACTORY",
        help="the module to run: FACTORY() returns an nn.Module whose state_dict keys match the store "
        "(default: the built-in model the store records; a checkpoint's store records none)",
    )
    p.add_argument(
        "--input-shape",
        type=_shape,
        metavar="C,H,W",
        help="one input's shape, batch excluded (default 3,224,224)",
    )
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
        "--mode",
        choices=("exact", "fast"),
        default="exact",
        help="exact (default): outputs bit-identical to the dense model; fast: pq-* linear layers "
        "computed straight from their (gap, value) tuples, NOT bit-exact (another summation order): "
        "--check then checks every output element against the forward error bound of a dot "
        "product and top-1 against the dense model over 64 seeded inputs",
    )
    # the flag's name before fast mode had one; kept so existing scripts run
    p.add_argument("--sparse-compute", dest="mode", action="store_const", const="fast", help=argparse.SUPPRESS)
    p.add_argument("--profile", action="store_true", help="time per layer: extract (select+extract), decode, compute")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("verify", help="decode every tensor and check its sha256")
    p.add_argument("store", help=STORE_HELP)
    _add_storage_options(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("plugins", help="list registered codecs and formulations")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("warmup", help="compile the built-in numba kernels now (once per install), not in the first run")
    p.add_argument("--jobs", type=int, default=2, help="processes compiling at once (default 2)")
    p.add_argument("--tasks", help="comma-separated task names (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="print the task names and exit")
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
        "--slow-max-symbols",
        type=int,
        default=None,
        help="time slow (pure-Python) codecs such as the paper's huffman only on layers of at most this many "
        "symbols; longer layers are encoded for their size only (default 2**23)",
    )
    p.add_argument("-o", "--output", default="bench-out", help="directory for results.json, tables.md, CSV, plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the results JSON path and totals as JSON")
    return parser


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes, e.g. 3,224,224, got {text!r}") from None


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
    from codecbench.executor.runner import open_model_store

    return open_model_store(args.store, _storage_options(args))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # inside the try: a reader gone away is noticed here, not at exit
        return code
    except CodecbenchError as exc:
        if debug:
            raise
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("codecbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`codecbench plugins --json | head -1`): stop quietly
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise again (the
    recipe of Python's documentation on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (stdout replaced): nothing to flush
        pass
    finally:
        os.close(devnull)


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text)


def cmd_compress(args: argparse.Namespace) -> int:
    from codecbench.compression import DEFAULT_CODEC, compress_checkpoint, compress_model, default_config, is_checkpoint
    from codecbench.store.config import StoreConfig

    if args.config and (args.formulation or args.codec):
        raise ConfigError("--config cannot be combined with --formulation/--codec")
    if args.auto and (args.config or args.formulation or args.codec):
        raise ConfigError("--auto chooses formulation and codec per tensor; drop --config/--formulation/--codec")
    if args.auto_codecs and not args.auto:
        raise ConfigError("--auto-codecs needs --auto")
    if args.prune_config and not args.prune:
        raise ConfigError("--prune-config needs --prune (pruning is lossy, so it is never implied)")
    checkpoint = is_checkpoint(args.model)
    if checkpoint and args.weights is not None:
        raise ConfigError(f"--weights applies to built-in models; {args.model!r} is a checkpoint, its own weights")
    # no config and no --formulation: per tensor, compression.default_plan (with --codec if named)
    config = StoreConfig.from_toml(args.config) if args.config else default_config(args.formulation, args.codec)
    prune = None
    if args.prune:
        from codecbench.models.prune import PruneConfig

        prune = PruneConfig.from_toml(args.prune_config) if args.prune_config else PruneConfig()
    start = time.perf_counter()
    if checkpoint:
        compress = partial(compress_checkpoint, args.model)
    else:
        compress = partial(compress_model, args.model, args.weights or "init:0")
    out = compress(
        args.output,
        config,
        overwrite=args.force,
        progress=not (args.quiet or args.json),
        prune=prune,
        storage_options=_storage_options(args),
        dask=args.dask,
        auto=args.auto,
        auto_codecs=[c.strip() for c in args.auto_codecs.split(",") if c.strip()] if args.auto_codecs else None,
        codec=args.codec or DEFAULT_CODEC,
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
    from codecbench.executor.runner import open_model_store

    return open_model_store(path, storage_options).summary()


def cmd_info(args: argparse.Namespace) -> int:
    summary = _store_summary(args.store, _storage_options(args))
    lines = [
        f"{summary['store']}: model {summary['model'] or '(none recorded)'}, "
        f"weights {summary['weights'].get('source')}, "
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
    w = max([24, *(len(r["name"]) for r in summary["tensors"])])  # checkpoints' dotted keys run long
    lines += [
        f"{'tensor':<{w}} {'formulation':<12} {'codec':<12} {'original':>13} {'stored':>13} {'ratio':>7}",
    ]
    for r in summary["tensors"]:
        lines.append(
            f"{r['name']:<{w}} {r['formulation'] or 'plain':<12} {r['codec'] or '-':<12} "
            f"{r['original_bytes']:>13,} {r['stored_bytes']:>13,} {_ratio(r['ratio'])}"
        )
    lines.append(
        f"{'total':<{w + 26}} {summary['original_bytes']:>13,} {summary['stored_bytes']:>13,} {_ratio(summary['ratio'])}"
    )
    _emit(args, summary, "\n".join(lines))
    return 0


def _ratio(ratio: float | None) -> str:
    return f"{'-':>7}" if ratio is None else f"{ratio:>7.3f}"  # None: an empty tensor stores no bytes


def cmd_run(args: argparse.Namespace) -> int:
    from codecbench.executor.run import RunOptions, run_model

    result = run_model(
        RunOptions(
            store=args.store,
            storage_options=_storage_options(args),
            batch=args.batch,
            seed=args.seed,
            check=args.check,
            dense=args.dense,
            group_weights=args.group_weights,
            repeat=args.repeat,
            warmup=args.warmup,
            cache_mb=args.cache_mb,
            workers=args.workers,
            depth=args.depth,
            compute=args.mode,
            profile=args.profile,
            shapes=args.json,
            model=args.model,
            input_shape=args.input_shape,
        )
    )
    text = (
        f"{result['mode']} {result['model']} batch {args.batch}: {result['seconds'] * 1e3:.1f} ms, "
        f"top-1 {result['top1'][:8]}, peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    if result.get("compute") == "fast":
        fast = result["fast_layers"]
        text += (
            f"\nfast mode: {len(fast)} pq-* linear layer(s) computed from their tuples (NOT bit-exact): {', '.join(fast)}"
            if fast
            else "\nfast mode: the store has no pq-* linear layer that fast mode computes; every layer ran exactly"
        )
    cache = result.get("cache")
    if cache and cache["budget_bytes"]:
        text += (
            f"\ncache {cache['budget_bytes'] / 2**20:.1f} MiB: {cache['hits']} hits, {cache['misses']} misses, "
            f"{cache['bytes'] / 2**20:.1f} MiB kept"
        )
    if "profile" in result:
        text += "\n" + _profile_text(result["profile"])
    if args.check:
        verdict = "bit-identical" if result["bit_identical"] else "NOT bit-identical"
        if "max_abs_diff" in result:
            verdict += f" (max |diff| {result['max_abs_diff']:.3g}, max |dense| {result['max_abs_dense']:.3g})"
        text += f"\ndense: {result['dense_seconds'] * 1e3:.1f} ms; outputs {verdict}"
        if "bound" in result:
            text += "\n" + _bound_text(result)
    _emit(args, result, text)
    if args.check and not result["passed"]:
        what = "outside the error bound or top-1 differs" if "bound" in result else "differ"
        print(f"codecbench: error: compressed and dense outputs {what}", file=sys.stderr)
        return EXIT_MISMATCH
    return 0


def _bound_text(result: dict[str, Any]) -> str:
    """Fast mode's check: per fast layer the largest fraction of its error bound, then top-1."""
    lines = ["fast layers against the forward error bound gamma_{K+1} (|W||x| + |b|):"]
    for r in result["bound"]["layers"]:
        verdict = "within" if r["violations"] == 0 else f"{r['violations']} element(s) OUTSIDE"
        lines.append(
            f"  {r['name']:<24} K={r['fan_in']:<6} {r['elements']:>8} elements, "
            f"max {r['max_fraction']:.3g} of the bound: {verdict}"
        )
    top1 = result["top1_agreement"]
    lines.append(f"top-1 equal to the dense model on {top1['agree']}/{top1['inputs']} seeded inputs")
    return "\n".join(lines)


def _profile_text(profile: dict[str, Any]) -> str:
    """Per layer, ms per pass: extract = select + extract (worker threads), decode (workers),
    compute and wait (the calling thread), wall (elapsed; less than the sum when overlapped)."""
    layers, passes = profile["layers"], profile["passes"]
    head = (
        f"{'layer':<24} {'path':<10} {'groups':>6} {'extract':>9} {'decode':>9} {'compute':>9} {'wait':>9} "
        f"{'wall':>9}  (ms/pass; fused: extract is in decode)"
    )
    lines = [head]
    for layer in [*layers, {"name": "total", "path": "", **profile["total"]}]:
        ms = {k: layer[k] * 1e3 / passes for k in ("select", "extract", "decode", "compute", "wait", "wall")}
        lines.append(
            f"{layer['name']:<24} {layer['path']:<10} {layer['groups'] // passes:>6} {ms['select'] + ms['extract']:>9.2f} "
            f"{ms['decode']:>9.2f} {ms['compute']:>9.2f} {ms['wait']:>9.2f} {ms['wall']:>9.2f}"
        )
    return "\n".join(lines)


def cmd_verify(args: argparse.Namespace) -> int:
    results = _open_store(args).verify_all()
    failed = [r for r in results if not r["ok"]]
    if args.json:
        print(json.dumps({"store": args.store, "ok": not failed, "tensors": results}, indent=2))
    if failed:
        raise CodecbenchError(
            f"{len(failed)} of {len(results)} tensors failed verification; first: {failed[0]['error']}"
        )
    if not args.json:
        print(f"{args.store}: all {len(results)} tensors verified (metadata consistent, sha256 match)")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from codecbench.registry import get_registry

    entries = [e.as_dict() for e in get_registry().entries()]
    lines = [f"{e['kind']:<12} {e['name']:<16} {e['distribution']} {e['version']} ({e['module']})" for e in entries]
    _emit(args, entries, "\n".join(lines))
    return 0


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
    if args.slow_max_symbols is not None and args.slow_max_symbols < 0:
        raise ConfigError("--slow-max-symbols must be >= 0")
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
    if args.slow_max_symbols is not None:
        cfg.slow_max_symbols = args.slow_max_symbols
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


def cmd_warmup(args: argparse.Namespace) -> int:
    from codecbench.executor.warmup import task_names, warm

    if args.list:
        _emit(args, task_names(), "\n".join(task_names()))
        return 0
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    record = warm(tasks, jobs=args.jobs)
    _emit(
        args,
        record,
        f"compiled the kernels of {len(record['tasks'])} tasks in {record['jobs']} processes "
        f"in {record['seconds']:.0f} s",
    )
    return 0


_COMMANDS = {
    "bench": cmd_bench,
    "warmup": cmd_warmup,
    "compress": cmd_compress,
    "info": cmd_info,
    "run": cmd_run,
    "verify": cmd_verify,
    "plugins": cmd_plugins,
}

if __name__ == "__main__":
    raise SystemExit(main())
