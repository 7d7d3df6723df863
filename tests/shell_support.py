"""Helpers for tests that drive the magics in a headless InteractiveShell."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from ptc_jupyter.calls.tools import registry
from ptc_jupyter.notebook import magics


def set_magics_config(shell, values: dict) -> None:
    """`%config` writes into shell.config (and so outlives a test, even an unload); set it, and put
    every PTCMagics trait not in `values` back to its default."""
    shell.config["PTCMagics"] = Config(values)
    config = magics.PTCMagics.class_traits(config=True)
    for instance in [c for c in shell.configurables if isinstance(c, magics.PTCMagics)]:
        for name, trait in config.items():
            setattr(instance, name, values.get(name, trait.default()))


@contextmanager
def offline_shell(tools_cell: str) -> Iterator[InteractiveShell]:
    """The headless shell with the extension loaded, offline, and `tools_cell` run; afterwards the
    extension unloaded and the PTCMagics config and the tool registry as they were."""
    shell = InteractiveShell.instance()
    saved_tools = list(registry)
    saved_config = dict(shell.config.get("PTCMagics", {}))
    shell.run_line_magic("load_ext", "ptc_jupyter")
    set_magics_config(shell, {"offline": True})
    try:
        assert shell.run_cell(tools_cell).success
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "ptc_jupyter")
        shell.config["PTCMagics"] = Config(saved_config)
        registry.clear()
        for saved in saved_tools:
            registry.add(saved)
