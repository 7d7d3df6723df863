"""The PTC loop over the Messages API (no IPython): responses, retries, caching, the local sandbox mode, the backend session, recording, the one background loop."""
