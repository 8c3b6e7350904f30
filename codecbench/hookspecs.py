"""The hooks through which codecs and formulations reach codecbench.

Built-in codecs and formulations register through these very hooks (see
``codecbench.registry.BUILTIN_PLUGINS``); third parties do the same from a module named by
an entry point in group ``codecbench``::

    [project.entry-points.codecbench]
    mycodec = "mypackage.mycodec"

    # mypackage/mycodec.py
    from codecbench import hookimpl

    @hookimpl
    def codecbench_codecs():
        return [MyCodec]

A name registered twice, by whatever sources, is an error naming both.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "codecbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def codecbench_codecs() -> list[type]:
    """Return a list of Codec classes (subclasses of ``codecbench.codecs.base.Codec``).

    Each class needs a unique ``name``; it is what stores and configs refer to.
    """


@hookspec
def codecbench_formulations() -> list[type]:
    """Return a list of Formulation classes (subclasses of
    ``codecbench.formulations.base.Formulation``), each with a unique ``name``."""


@hookspec
def codecbench_fused_decoders() -> list[type]:
    """Return a list of FusedDecoder classes (subclasses of ``codecbench.fused.FusedDecoder``):
    each decodes one (formulation, codec) pair's symbols straight into weights, with no
    intermediate symbol array. Optional: a pair without one decodes as extract, then decode."""
