"""Reading the TOML files users write (store configs, prune configs): one reader, so every
mistake reads the same way, a one-line :class:`~codecbench.errors.ConfigError` naming the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from codecbench.errors import ConfigError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; any failure is a one-line ConfigError naming the file."""
    where = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {what}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: malformed TOML: {exc}") from None
