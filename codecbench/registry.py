"""Loads codecs, formulations and fused decoders: built-ins first, then entry points of group
``codecbench``.

Built-ins go through the same pluggy hooks as third-party plugins, so there is one path to
test. Every class is checked against its contract as it registers (``check_codec_class``,
``check_formulation_class``, ``check_fused_class``). Adding a built-in codec is one module
under ``codecbench/codecs/`` plus one line in ``BUILTIN_PLUGINS``; a third party adds one
module plus one entry-point line.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from codecbench import hookspecs
from codecbench.codecs.base import check_codec_class
from codecbench.errors import RegistryError
from codecbench.formulations.base import check_formulation_class
from codecbench.fused import FusedDecoder, check_fused_class

BUILTIN_PLUGINS: tuple[str, ...] = (
    "codecbench.codecs.raw",
    "codecbench.codecs.wavelet_tree",
    "codecbench.codecs.huffman",
    "codecbench.codecs.huffman_fast",
    "codecbench.formulations.element",
    "codecbench.formulations.block",
    "codecbench.formulations.pq_element",
    "codecbench.formulations.pq_block",
    "codecbench.formulations.pq_joint",
    "codecbench.formulations.float_split",
    "codecbench.fused.float_split",
    "codecbench.fused.pq",
)

_KINDS = {"codec": "codecbench_codecs", "formulation": "codecbench_formulations", "fused": "codecbench_fused_decoders"}
#: a class that breaks its contract is refused when it registers, naming it and the member
_CHECKS = {"codec": check_codec_class, "formulation": check_formulation_class, "fused": check_fused_class}


@dataclass(frozen=True)
class Registered:
    """One codec or formulation class and where it came from."""

    kind: str
    name: str
    cls: type
    module: str
    distribution: str
    version: str

    @property
    def source(self) -> str:
        return f"{self.distribution} {self.version} ({self.module})"

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
        }


class Registry:
    """Every codec and formulation by name. Build with :meth:`load` or :func:`get_registry`."""

    def __init__(self, entries: Iterable[Registered]) -> None:
        self._by_kind: dict[str, dict[str, Registered]] = {kind: {} for kind in _KINDS}
        for entry in entries:
            table = self._by_kind[entry.kind]
            if entry.name in table:
                first = table[entry.name]
                raise RegistryError(
                    f"{entry.kind} name {entry.name!r} registered twice: by {first.source} and by {entry.source}"
                )
            table[entry.name] = entry

    @classmethod
    def load(cls, *, entry_points: bool = True, extra_plugins: Iterable[Any] = ()) -> Registry:
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        own_version = _version("codecbench")
        sources: dict[int, tuple[str, str]] = {}
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            pm.register(module, name=module_name)
            sources[id(module)] = ("codecbench", own_version)
        for plugin in extra_plugins:
            pm.register(plugin)
            sources[id(plugin)] = ("(registered at run time)", "-")
        if entry_points:
            try:
                pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
            except Exception as exc:  # a broken plugin must not read as a codecbench bug
                raise RegistryError(f"a plugin in entry-point group 'codecbench' failed to load: {exc}") from exc
            for plugin, dist in pm.list_plugin_distinfo():
                sources[id(plugin)] = (dist.metadata["name"], dist.version)
        return cls(_collect(pm, sources))

    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind])

    def entries(self) -> list[Registered]:
        return [e for kind in _KINDS for _, e in sorted(self._by_kind[kind].items())]

    def entry(self, kind: str, name: str) -> Registered:
        try:
            return self._by_kind[kind][name]
        except KeyError:
            known = ", ".join(self.names(kind)) or "none"
            raise RegistryError(f"unknown {kind} {name!r} (registered: {known})") from None

    def codec(self, name: str) -> Any:
        """An instance of the codec registered as ``name``."""
        return self.entry("codec", name).cls()

    def formulation(self, name: str) -> Any:
        """An instance of the formulation registered as ``name``."""
        return self.entry("formulation", name).cls()

    def fused(self, formulation: str, codec: str) -> FusedDecoder | None:
        """An instance of the fused decoder of this pair, or None (the pair decodes plainly)."""
        entry = self._by_kind["fused"].get(f"{formulation}/{codec}")
        return None if entry is None else entry.cls()


def _collect(pm: pluggy.PluginManager, sources: dict[int, tuple[str, str]]) -> list[Registered]:
    entries = []
    for kind, hook_name in _KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            module = getattr(impl.plugin, "__name__", impl.plugin_name)
            dist, version = sources.get(id(impl.plugin), ("unknown", "-"))
            for cls in impl.function() or []:
                name = getattr(cls, "name", None)
                if not isinstance(name, str) or not name:
                    raise RegistryError(f"{kind} class {cls!r} from {module} has no string 'name'")
                _CHECKS[kind](cls, f"{dist} {version}, {module}")
                entries.append(Registered(kind, name, cls, module, dist, version))
    # pluggy calls the most recently registered first; report in registration order
    return sorted(entries, key=lambda e: (e.kind, e.distribution != "codecbench"))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0+unknown"


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry: built-ins plus installed plugins (loaded once)."""
    return Registry.load()
