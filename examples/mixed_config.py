"""Compress with a per-layer TOML config (examples/mixed.toml), then check the run bit-exactly.

python examples/mixed_config.py [STORE]
"""

from __future__ import annotations

import sys
from pathlib import Path

from codecbench.cli import main

store = sys.argv[1] if len(sys.argv) > 1 else "alexnet-mixed.zarr"
config = Path(__file__).with_name("mixed.toml")
code = main(["compress", "alexnet", "--weights", "init:0", "--config", str(config), "-o", store, "--force", "--quiet"])
code = code or main(["info", store])
code = code or main(["run", store, "--check"])
sys.exit(code)
