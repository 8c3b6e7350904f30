"""``pq-element``: the nonzero weights of each unit as (gap, value) tuples, for pruned and
quantized tensors (Deep Compression's relative-index coding). The grammar is in
:mod:`codecbench.formulations.pq`; entries index the tensor's distinct nonzero values (plus
``0`` when a filler needs it). ``specs/ras.md`` is normative."""

from __future__ import annotations

from typing import Any

from codecbench.formulations.base import Formulation
from codecbench.formulations.pq import PQFormulation
from codecbench.hookspecs import hookimpl


class PQElementFormulation(PQFormulation):
    name = "pq-element"
    params: dict[str, Any] = {"gap_bits": "auto"}
    blockwise = False


@hookimpl
def codecbench_formulations() -> list[type[Formulation]]:
    return [PQElementFormulation]
