"""Codecs: store a symbol sequence and answer queries on the compressed bytes.

One module per codec; the contract is in :mod:`codecbench.codecs.base`, and
:mod:`codecbench.codecs.blocked` is shared query machinery for block-compressed codecs.
"""

from codecbench.codecs.base import Codec, Sequence

__all__ = ["Codec", "Sequence"]
