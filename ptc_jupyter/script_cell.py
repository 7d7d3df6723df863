"""`from ptc_jupyter.script_cell import bind_tools`: the line every script cell begins with, in saved
notebooks too, so this path stays. The code lives in `notebook/script_cell.py`."""

from ptc_jupyter.notebook.script_cell import bind_tools

__all__ = ["bind_tools"]
