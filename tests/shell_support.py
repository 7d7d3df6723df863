"""Helpers for tests that drive the magics in a headless InteractiveShell."""

from __future__ import annotations

from traitlets.config import Config

from ptc_jupyter import magics


def set_magics_config(shell, values: dict) -> None:
    """`%config` writes into shell.config (and so outlives a test, even an unload); set it, and put
    every PTCMagics trait not in `values` back to its default."""
    shell.config["PTCMagics"] = Config(values)
    config = magics.PTCMagics.class_traits(config=True)
    for instance in [c for c in shell.configurables if isinstance(c, magics.PTCMagics)]:
        for name, trait in config.items():
            setattr(instance, name, values.get(name, trait.default()))
