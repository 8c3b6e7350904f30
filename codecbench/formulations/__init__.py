"""Formulations: a weight tensor <-> a Runtime-Accessible Sequence (RAS).

One module per formulation; the contract is in :mod:`codecbench.formulations.base`.
"""

from codecbench.formulations.base import RAS, Formulation

__all__ = ["RAS", "Formulation"]
