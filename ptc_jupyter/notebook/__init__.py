"""Inside IPython: the magics, their options and prompt, a cell's run, approvals, the live view, Claude's script as a cell."""
