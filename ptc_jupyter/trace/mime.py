"""The MIME type a finished run is saved under in a notebook.

A module of its own so that the renderers and the record can both name it without importing
each other (`trace` imports `render`, never the other way round).
"""

MIME_TYPE = "application/vnd.ptc-jupyter.trace+json"
