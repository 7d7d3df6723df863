"""Text, HTML and the MIME bundle of a run, and the one calls-table model the live and the saved views share.

Importing this package installs the views the record asks for (`trace/presentation.py`), so a `Run`
displays as its saved bundle and prints as text; `ptc_jupyter/__init__.py` imports it.
"""

from ptc_jupyter.display.files import file_bundle
from ptc_jupyter.display.render import mime_bundle, to_text
from ptc_jupyter.trace.presentation import presenters

presenters.run_bundle = mime_bundle
presenters.run_text = to_text
presenters.file_bundle = file_bundle
