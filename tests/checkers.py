"""Kept for the per-codec test modules that import ``checkers``: the checks now live in
:mod:`codecbench.testing.checks`, importable by plugin authors too."""

from codecbench.testing.checks import (  # noqa: F401
    CASE_SECONDS,
    QUERY_ERRORS,
    check_codec_roundtrip,
    check_hostile_buffers,
    check_oversized_arguments,
    check_sequence_against,
    naive_rank,
    naive_select,
)
