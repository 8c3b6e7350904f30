"""The plugin registry: built-ins, run-time plugins, entry points, name clashes, and ``codecbench plugins``."""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
import types
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import codecbench
from codecbench.cli import main
from codecbench.codecs.base import Codec, Sequence
from codecbench.codecs.raw import RawCodec
from codecbench.errors import PluginError, RegistryError
from codecbench.formulations.base import Formulation
from codecbench.hookspecs import hookimpl
from codecbench.registry import Registry, get_registry


class ToyCodec(RawCodec):
    """A new codec name backed by raw's implementation."""

    name = "toy"


class ImpostorRaw(Codec):
    """Claims the built-in name ``raw``."""

    name = "raw"

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:  # pragma: no cover
        raise NotImplementedError

    def open(self, buffer: Any) -> Sequence:  # pragma: no cover
        raise NotImplementedError


class ImpostorElement(Formulation):
    name = "element"

    def encode(self, tensor: np.ndarray, **params: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def decode_units(self, ras: Any, symbols: np.ndarray, k0: int, k1: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class ImpostorPlugin:
    """A plugin object (a class, used as is) registering a codec named ``raw``."""

    @codecbench.hookimpl
    def codecbench_codecs() -> list[type]:  # pluggy calls it on the class: no self
        return [ImpostorRaw]


def namespace_plugin(codecs: list[type] | None = None, formulations: list[type] | None = None) -> Any:
    plugin = types.SimpleNamespace()
    if codecs is not None:
        plugin.codecbench_codecs = codecbench.hookimpl(lambda: codecs)
    if formulations is not None:
        plugin.codecbench_formulations = codecbench.hookimpl(lambda: formulations)
    return plugin


# --------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("entry_points", [False, True])
def test_builtins_present(entry_points: bool) -> None:
    registry = Registry.load(entry_points=entry_points)
    assert "raw" in registry.names("codec")
    assert "element" in registry.names("formulation")
    raw = registry.entry("codec", "raw")
    element = registry.entry("formulation", "element")
    for entry in (raw, element):
        assert entry.distribution == "codecbench"
        assert entry.version == codecbench.__version__
    assert raw.cls is RawCodec
    assert raw.module == "codecbench.codecs.raw"
    assert element.module == "codecbench.formulations.element"
    assert isinstance(registry.codec("raw"), RawCodec)
    assert registry.formulation("element").name == "element"
    assert raw.as_dict() == {
        "kind": "codec",
        "name": "raw",
        "class": "codecbench.codecs.raw.RawCodec",
        "module": "codecbench.codecs.raw",
        "distribution": "codecbench",
        "version": codecbench.__version__,
    }
    assert "codecbench" in raw.source and "codecbench.codecs.raw" in raw.source


def test_get_registry_is_cached_and_complete() -> None:
    assert get_registry() is get_registry()
    assert {(e.kind, e.name) for e in get_registry().entries()} >= {("codec", "raw"), ("formulation", "element")}


# --------------------------------------------------------------------------- run-time plugins


def test_duplicate_builtin_codec_names_both_sources() -> None:
    with pytest.raises(RegistryError) as excinfo:
        Registry.load(entry_points=False, extra_plugins=[ImpostorPlugin])
    message = str(excinfo.value)
    assert "'raw'" in message
    assert "registered twice" in message
    assert f"codecbench {codecbench.__version__} (codecbench.codecs.raw)" in message
    assert "(registered at run time)" in message and "ImpostorPlugin" in message


def test_duplicate_builtin_formulation_names_both_sources() -> None:
    with pytest.raises(RegistryError) as excinfo:
        Registry.load(entry_points=False, extra_plugins=[namespace_plugin(formulations=[ImpostorElement])])
    message = str(excinfo.value)
    assert "'element'" in message
    assert "codecbench.formulations.element" in message
    assert "(registered at run time)" in message


def test_duplicate_between_two_plugins() -> None:
    first, second = namespace_plugin(codecs=[ToyCodec]), namespace_plugin(codecs=[ToyCodec])
    with pytest.raises(RegistryError, match="'toy' registered twice"):
        Registry.load(entry_points=False, extra_plugins=[first, second])


def test_duplicate_within_one_plugin() -> None:
    with pytest.raises(RegistryError, match="'toy'"):
        Registry.load(entry_points=False, extra_plugins=[namespace_plugin(codecs=[ToyCodec, ToyCodec])])


def test_plugin_adds_codec() -> None:
    registry = Registry.load(entry_points=False, extra_plugins=[namespace_plugin(codecs=[ToyCodec])])
    entries = registry.entries()
    names = [(e.kind, e.name) for e in entries]
    assert ("codec", "toy") in names
    assert ("codec", "raw") in names and ("formulation", "element") in names
    toy = registry.entry("codec", "toy")
    assert toy.cls is ToyCodec
    assert toy.distribution == "(registered at run time)"
    assert registry.names("codec") == sorted(registry.names("codec"))
    assert "toy" in registry.names("codec")
    codec = registry.codec("toy")
    assert isinstance(codec, ToyCodec)
    seq = codec.open(codec.encode(np.array([1, 0, 1], dtype=np.uint32), 2))
    assert seq.extract(0, 3).tolist() == [1, 0, 1]
    # the process-wide registry is not affected
    assert "toy" not in get_registry().names("codec")


def test_plugin_returning_nothing() -> None:
    plugin = types.SimpleNamespace(codecbench_codecs=codecbench.hookimpl(lambda: None))
    registry = Registry.load(entry_points=False, extra_plugins=[plugin])
    assert "raw" in registry.names("codec")  # the plugin added nothing, and broke nothing


def test_unknown_name_lists_registered() -> None:
    registry = Registry.load(entry_points=False, extra_plugins=[namespace_plugin(codecs=[ToyCodec])])
    with pytest.raises(RegistryError) as excinfo:
        registry.codec("nonexistent")
    message = str(excinfo.value)
    assert "nonexistent" in message and "raw" in message and "toy" in message
    with pytest.raises(RegistryError, match="element"):
        registry.formulation("nonexistent")
    with pytest.raises(RegistryError, match="nonexistent"):
        registry.entry("codec", "nonexistent")


@pytest.mark.parametrize("name", [None, "", 3, b"bytes"])
def test_codec_class_without_string_name(name: Any) -> None:
    nameless = type("Nameless", (), {}) if name is None else type("Nameless", (RawCodec,), {"name": name})
    with pytest.raises(RegistryError, match="name"):
        Registry.load(entry_points=False, extra_plugins=[namespace_plugin(codecs=[nameless])])


def test_formulation_class_without_name() -> None:
    nameless = type("Nameless", (), {})
    with pytest.raises(RegistryError, match="Nameless"):
        Registry.load(entry_points=False, extra_plugins=[namespace_plugin(formulations=[nameless])])


# --------------------------------------------------------------------------- entry points


def _install_fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_source: str) -> str:
    """A distribution on sys.path whose entry point (group ``codecbench``) names a fresh module."""
    module = f"cb_fake_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = tmp_path / "cb_fake_plugin-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cb-fake-plugin\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[codecbench]\nfake = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, module, raising=False)
    return module


def test_entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _install_fake_distribution(
        tmp_path,
        monkeypatch,
        """
        from codecbench import hookimpl
        from codecbench.codecs.raw import RawCodec

        class FakeCodec(RawCodec):
            name = "fake"

        @hookimpl
        def codecbench_codecs():
            return [FakeCodec]
        """,
    )
    registry = Registry.load()
    entry = registry.entry("codec", "fake")
    assert entry.distribution == "cb-fake-plugin"
    assert entry.version == "1.2.3"
    assert entry.module == module
    assert registry.entry("codec", "raw").distribution == "codecbench"
    assert "fake" not in Registry.load(entry_points=False).names("codec")


def test_entry_point_clash_names_the_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_distribution(
        tmp_path,
        monkeypatch,
        """
        from codecbench import hookimpl
        from codecbench.codecs.raw import RawCodec

        class Clash(RawCodec):
            name = "raw"

        @hookimpl
        def codecbench_codecs():
            return [Clash]
        """,
    )
    with pytest.raises(RegistryError) as excinfo:
        Registry.load()
    message = str(excinfo.value)
    assert "cb-fake-plugin 1.2.3" in message
    assert "codecbench.codecs.raw" in message


def test_broken_entry_point_is_a_registry_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_distribution(tmp_path, monkeypatch, "raise ImportError('missing dependency xyz')\n")
    with pytest.raises(RegistryError, match="xyz"):
        Registry.load()


# --------------------------------------------------------------------------- CLI


def test_cli_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    out = capsys.readouterr().out
    entries = json.loads(out)
    assert isinstance(entries, list)
    by_name = {(e["kind"], e["name"]): e for e in entries}
    for key, module in ((("codec", "raw"), "codecbench.codecs.raw"), (("formulation", "element"), None)):
        assert key in by_name
        entry = by_name[key]
        assert entry["distribution"] == "codecbench"
        assert entry["version"] == codecbench.__version__
        if module:
            assert entry["module"] == module
        assert set(entry) >= {"kind", "name", "class", "module", "distribution", "version"}


def test_cli_plugins_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "raw" in out and "element" in out and "codecbench" in out


# --------------------------------------------------------------------------- contracts


README_CODEC = """
import numpy as np

from codecbench import hookimpl
from codecbench.codecs.base import Codec, Sequence


class ListSequence(Sequence):
    # written from the README's member list, but without alphabet_size
    def __init__(self, symbols):
        self._s = symbols

    def __len__(self):
        return self._s.size

    @property
    def nbytes(self):
        return self._s.nbytes

    def access(self, i):
        return int(self._s[i])

    def rank(self, c, i):
        return int(np.count_nonzero(self._s[:i] == c))

    def select(self, c, k):
        return int(np.flatnonzero(self._s == c)[k - 1])

    def extract(self, start, stop):
        return self._s[start:stop].copy()


class ReadmeCodec(Codec):
    name = "readme"

    def encode(self, symbols, alphabet_size, **params):
        return np.asarray(symbols, dtype="<u4").tobytes()

    def open(self, buffer):
        return ListSequence(np.frombuffer(buffer, dtype="<u4").astype(np.uint32))


@hookimpl
def codecbench_codecs():
    return [ReadmeCodec]
"""


@pytest.fixture
def readme_codec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The README codec above, installed as a third party's, in the process-wide registry."""
    _install_fake_distribution(tmp_path, monkeypatch, README_CODEC)
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


def test_a_sequence_without_a_contract_member_fails_at_open_naming_codec_and_member(
    tmp_path: Path, readme_codec: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compressing needs no Sequence, so it works; the first open of the tensor (here a model's
    forward) fails with one line naming the store, the tensor, the codec and the member, not
    with torch's "'CompressedLinear' object has no attribute 'opened'"."""
    import torch
    from tinynet import TinyNet

    from codecbench.compression import compress_state_dict
    from codecbench.errors import PluginError
    from codecbench.store.config import StoreConfig

    torch.manual_seed(0)
    net = TinyNet().eval()
    store = compress_state_dict(
        net.state_dict(), tmp_path / "readme.zarr", StoreConfig.simple("element", "readme"), progress=False
    )
    model = codecbench.open(store).load_model(TinyNet())
    with pytest.raises(PluginError) as info, torch.inference_mode():
        model(torch.zeros(1, 3, 20, 20))
    message = str(info.value)
    assert message.startswith(f"{store}: tensor 'features.0.weight'") and "\n" not in message
    assert "codec 'readme': its open() returned a ListSequence without 'alphabet_size'" in message
    assert main(["verify", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "without 'alphabet_size'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "attribute, value, expected",
    [
        ("variants", ({"shape": "huffman"},), "'variants' must be a non-empty tuple of dicts over its params"),
        ("variants", [{}], "capability 'variants' must be a tuple"),
        ("decodes_from_start", "yes", "capability 'decodes_from_start' must be a bool"),
        ("practical_alphabet", True, "capability 'practical_alphabet' must be a int"),
        ("params", None, "'params' must be a dict"),
    ],
)
def test_a_codec_class_breaking_its_contract_is_refused_when_it_registers(
    attribute: str, value: object, expected: str
) -> None:
    class Broken(RawCodec):
        name = "broken"

    setattr(Broken, attribute, value)

    class Plugin:
        @hookimpl
        def codecbench_codecs(self) -> list[type]:
            return [Broken]

    with pytest.raises(PluginError, match=f"codec 'broken' \\(.*\\): {re.escape(expected)}"):
        Registry.load(entry_points=False, extra_plugins=[Plugin()])


def test_a_formulation_without_a_decode_method_is_refused() -> None:
    class NoDecode(Formulation):
        name = "no-decode"

        def encode(self, tensor, **params):  # noqa: ANN001, ANN003, ANN201
            raise NotImplementedError

    class Plugin:
        @hookimpl
        def codecbench_formulations(self) -> list[type]:
            return [NoDecode]

    with pytest.raises(PluginError, match="formulation 'no-decode' .*implements neither 'decode_units_into' nor"):
        Registry.load(entry_points=False, extra_plugins=[Plugin()])


def test_capabilities_come_from_the_classes() -> None:
    registry = get_registry()
    assert registry.entry("codec", "wavelet-tree").cls.variants == ({"shape": "huffman"}, {"shape": "balanced"})
    huffman = registry.entry("codec", "huffman").cls
    assert huffman.decodes_from_start and huffman.slow and huffman.practical_alphabet == 2**16
    assert not any(registry.entry("codec", c).cls.decodes_from_start for c in ("raw", "huffman-fast", "wavelet-tree"))
