"""The package version, in a module of its own so that every layer can read it without
importing the ``codecbench`` facade (whose functions reach up into the executor)."""

__version__ = "0.1.0"
