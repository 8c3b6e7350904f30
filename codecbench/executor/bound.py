"""Fast mode's check: every output element of every fast layer within the forward error bound
of a dot product, and the model's top-1 equal to the dense model's.

Fast mode (:mod:`codecbench.executor.engine`) sums a linear layer's products in tuple order,
not in torch's order, so its outputs cannot be bit-identical to the dense model's. What it can
promise is the standard bound on a floating-point dot product (Higham, *Accuracy and Stability
of Numerical Algorithms*, 3.1): for one output element with fan-in ``K``, computed in any order
of summation with unit roundoff ``u`` (``2**-24`` for float32),

    |y - y_exact| <= gamma_{K+1} * (|W| |x| + |b|),      gamma_n = n u / (1 - n u),

the ``+1`` being the bias's addition. :func:`check_layers` runs the fast model once with a hook
on every fast layer, then computes each call's exact result ``y64`` in float64 from the same
input ``x`` (the layer's own input in the fast run, not the dense model's) and the layer's
decoded weights, and reports per layer the largest observed ``|y - y64| / bound``. float64's
own error is about ``2**-29`` of that bound, far below what the check resolves. Any element
above 1, and any NaN or infinity where the exact result has none, fails the check.
A wrong accumulation (a weight placed one column off, a tuple dropped) lands far outside the
bound: ``tests/test_fast_mode.py`` shows it.

:func:`top1_agreement` compares the fast and the dense model's top-1 over 64 seeded inputs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from codecbench.executor.modules import CompressedLinear, fast_linears

#: unit roundoff of the dtypes fast mode computes in (float32 only: bfloat16 and float16 layers
#: run exactly in fast mode; bfloat16's would be 2**-8)
UNIT_ROUNDOFF = {torch.float32: 2.0**-24}
#: seeded inputs whose top-1 the check compares with the dense model's
TOP1_INPUTS = 64


def gamma(n: int, u: float) -> float:
    """``gamma_n = n u / (1 - n u)``; infinite once ``n u >= 1`` (no bound left)."""
    return n * u / (1 - n * u) if n * u < 1 else float("inf")


def check_layers(model: nn.Module, x: torch.Tensor) -> list[dict[str, Any]]:
    """One forward of ``model`` (built in fast mode) on ``x``; per fast layer (in execution
    order): ``name``, ``calls``, ``elements`` checked, ``fan_in``, ``max_fraction`` (largest
    ``|y - y64| / bound``; 0 when every element is exact) and ``violations`` (elements above
    the bound, or non-finite where ``y64`` is finite)."""
    captured: list[tuple[CompressedLinear, torch.Tensor, torch.Tensor]] = []

    def hook(module: CompressedLinear, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x_in = inputs[0]
        if x_in.dtype in UNIT_ROUNDOFF:  # a fast layer takes the fast path on float32 inputs only
            captured.append((module, x_in.detach().clone(), output.detach().clone()))

    hooks = [module.register_forward_hook(hook) for module in fast_linears(model)]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    reports: dict[str, dict[str, Any]] = {}
    weights: dict[int, torch.Tensor] = {}
    for module, x_in, y in captured:
        if id(module) not in weights:
            weights[id(module)] = module.dense_weight().double()
        w64 = weights[id(module)]
        fraction, violations = bound_fraction(x_in, y, w64, module.bias)
        name = module.profile_name
        report = reports.setdefault(
            name,
            {"name": name, "calls": 0, "elements": 0, "fan_in": w64.shape[1], "max_fraction": 0.0, "violations": 0},
        )
        report["calls"] += 1
        report["elements"] += y.numel()
        report["max_fraction"] = max(report["max_fraction"], fraction)
        report["violations"] += violations
    return list(reports.values())


def bound_fraction(x: torch.Tensor, y: torch.Tensor, w64: torch.Tensor, bias: torch.Tensor | None) -> tuple[float, int]:
    """``(largest |y - y64| / bound, elements out of bound)`` for ``y``, a float32 linear
    layer's output on input ``x``, against float64 ``w64`` (``out x in``) and ``bias``."""
    x64 = x.double().reshape(-1, x.shape[-1])
    y32 = y.reshape(-1, y.shape[-1])
    b64 = None if bias is None else bias.double()
    y64 = F.linear(x64, w64, b64)
    magnitude = F.linear(x64.abs(), w64.abs(), None if b64 is None else b64.abs())
    bound = gamma(w64.shape[1] + 1, UNIT_ROUNDOFF[y.dtype]) * magnitude
    err = (y32.double() - y64).abs()
    finite = torch.isfinite(y64)
    bad = finite & ~torch.isfinite(y32.double())  # NaN/inf where the exact result is finite
    err = torch.where(finite, err, torch.zeros_like(err))
    over = err > bound
    positive = bound > 0
    ratio = torch.where(positive, err / torch.where(positive, bound, torch.ones_like(bound)), torch.zeros_like(err))
    ratio = torch.where(~positive & (err > 0), torch.full_like(err, float("inf")), ratio)
    violations = int((over | bad).sum())
    fraction = float("inf") if bool(bad.any()) else float(ratio.max()) if ratio.numel() else 0.0
    return fraction, violations


def top1_agreement(
    fast: nn.Module, dense: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0, batch: int = 16
) -> dict[str, Any]:
    """Top-1 of both models on :data:`TOP1_INPUTS` seeded inputs (``seed``, in batches of
    ``batch``): how many agree, and the first index where they do not."""
    generator = torch.Generator().manual_seed(seed)
    agree, first_disagreement = 0, None
    done = 0
    with torch.inference_mode():
        while done < TOP1_INPUTS:
            n = min(batch, TOP1_INPUTS - done)
            x = torch.randn(n, *shape, generator=generator).to(dtype)
            same = fast(x).argmax(dim=1) == dense(x).argmax(dim=1)
            agree += int(same.sum())
            if first_disagreement is None and not bool(same.all()):
                first_disagreement = done + int((~same).nonzero()[0, 0])
            done += n
    return {"inputs": TOP1_INPUTS, "agree": agree, "first_disagreement": first_disagreement}
