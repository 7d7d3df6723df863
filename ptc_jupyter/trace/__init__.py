"""The record of a run: `Run`, `ToolCall`, events, steps, output files. It imports nothing above it and no view."""
