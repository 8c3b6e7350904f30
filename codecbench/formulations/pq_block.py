"""``pq-block``: the nonzero blocks of each unit (kernel slices of a conv, runs of
``block_size`` weights of a linear row) as (gap, block) tuples. The grammar is in
:mod:`codecbench.formulations.pq`, the blocks as in ``block``. ``specs/ras.md`` is normative."""

from __future__ import annotations

from typing import Any

from codecbench.formulations.base import Formulation
from codecbench.formulations.pq import PQFormulation
from codecbench.hookspecs import hookimpl


class PQBlockFormulation(PQFormulation):
    name = "pq-block"
    params: dict[str, Any] = {"block_size": "auto", "gap_bits": "auto"}
    blockwise = True


@hookimpl
def codecbench_formulations() -> list[type[Formulation]]:
    return [PQBlockFormulation]
