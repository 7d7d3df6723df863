"""Text, HTML and the MIME bundle of a run, and the one calls-table model the live and the saved views share."""
