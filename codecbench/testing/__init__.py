"""Conformance suites for codec and formulation plugins (and for codecbench's own built-ins).

Subclass in a test module and name the plugin; pytest collects the inherited tests::

    from codecbench.testing import CodecConformance, FormulationConformance

    class TestMyCodec(CodecConformance):
        codec_name = "mycodec"

    class TestMyFormulation(FormulationConformance):
        formulation_name = "myformulation"

Needs the test extra (``pytest``, ``hypothesis``): ``pip install "codecbench[test]"``. The
end-to-end AlexNet case is marked ``slow``; register the marker in your pytest configuration
(``markers = ["slow: ..."]``) or deselect it with ``-m "not slow"``. ``docs/plugins.md`` is the guide.

:mod:`codecbench.testing.checks` holds the underlying check functions (``check_codec_roundtrip``,
``check_sequence_against``, ``check_hostile_buffers``, ...) for codec-specific tests.
"""

import pytest

# plain asserts in the suites report their operands under pytest, as they would in a test module
pytest.register_assert_rewrite(
    "codecbench.testing.checks", "codecbench.testing.codec_suite", "codecbench.testing.formulation_suite"
)

from codecbench.testing.checks import (  # noqa: E402
    QUERY_ERRORS,
    check_codec_roundtrip,
    check_hostile_buffers,
    check_oversized_arguments,
    check_sequence_against,
    naive_rank,
    naive_select,
)
from codecbench.testing.codec_suite import CodecConformance  # noqa: E402
from codecbench.testing.formulation_suite import FormulationConformance  # noqa: E402
from codecbench.testing.strategies import make_symbols, symbol_sequences  # noqa: E402

__all__ = [
    "QUERY_ERRORS",
    "CodecConformance",
    "FormulationConformance",
    "check_codec_roundtrip",
    "check_hostile_buffers",
    "check_oversized_arguments",
    "check_sequence_against",
    "make_symbols",
    "naive_rank",
    "naive_select",
    "symbol_sequences",
]
