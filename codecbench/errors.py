"""Errors codecbench raises on purpose.

Every error here carries a one-line message that names the file, tensor or option at
fault; the CLI prints it as ``codecbench: error: <message>`` and exits with code 2.
Query methods of a :class:`~codecbench.codecs.base.Sequence` raise the builtin
``IndexError``/``ValueError`` for out-of-range arguments instead, as numpy does.
"""

from __future__ import annotations


class CodecbenchError(Exception):
    """Base class: something the user gave us is wrong (not a bug in codecbench)."""


class ConfigError(CodecbenchError):
    """A model name, weight source, option or config file is wrong."""


class RegistryError(CodecbenchError):
    """A codec or formulation name is unknown, or registered twice."""


class PluginError(CodecbenchError):
    """A codec or formulation (built-in or third-party) broke its contract, or failed in a way
    the contract does not allow (an exception other than the documented ones); the message
    names the codec or formulation, and the tensor when there is one."""


class StoreError(CodecbenchError):
    """A store is missing, unreadable, or does not hold what was asked for."""


class CorruptDataError(StoreError):
    """Bytes do not parse as what their metadata says they are (or fail a checksum)."""
