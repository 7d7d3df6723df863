"""API errors in our words (`errors.py`): read from the real SDK's exceptions, the same text
whatever the installed SDK's `str()` says, and a lost container recognised in each of its shapes."""

from __future__ import annotations

import anthropic
import pytest
from scripted_api import ScriptedAPI, api_error, stream_error

from ptc_jupyter.errors import error_info, error_text, is_container_lost

EXPIRED = "Container container_x has expired. Send the request again without the `container` parameter."


def raised(scripted, *, stream: bool = False) -> anthropic.APIStatusError:
    """The exception the real SDK raises for one scripted answer."""
    with ScriptedAPI([scripted]) as api:
        client = anthropic.Anthropic(api_key="test-key", base_url=api.url, max_retries=0)
        params = {"model": "claude-test", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        with pytest.raises(anthropic.APIStatusError) as info:
            if stream:
                with client.messages.stream(**params) as events:
                    events.get_final_message()
            else:
                client.messages.create(**params)
    return info.value


def test_an_http_error_reads_status_type_message_and_request_id():
    exc = raised(api_error(400, EXPIRED))
    info = error_info(exc)
    assert (info.status, info.type, info.message, info.request_id) == (
        400,
        "invalid_request_error",
        EXPIRED,
        "req_test",
    )
    assert error_text(exc) == f"HTTP 400 invalid_request_error: {EXPIRED} (request_id: req_test)"
    assert error_text(exc) != str(exc)  # whatever this SDK release says, we say the same


def test_an_error_event_in_a_stream_says_so():
    exc = raised(stream_error("Overloaded", "overloaded_error"), stream=True)
    assert exc.status_code == 200
    assert error_text(exc).startswith("stream error event overloaded_error: Overloaded")


@pytest.mark.parametrize(
    ("scripted", "stream"),
    [
        (api_error(400, EXPIRED), False),
        (api_error(404, "container_x: container not found", "not_found_error"), False),
        (api_error(410, "The container container_x is gone", "invalid_request_error"), False),
        (api_error(400, "container_011abc not found"), False),
        (stream_error(EXPIRED), True),
    ],
)
def test_a_lost_container_is_recognised_in_every_shape(scripted, stream):
    assert is_container_lost(raised(scripted, stream=stream))


@pytest.mark.parametrize(
    ("scripted", "stream"),
    [
        (api_error(400, "container: a container is required for skills"), False),
        (api_error(400, "messages.0.content: Field required"), False),
        (api_error(500, "Container host failed", "api_error"), False),
        (api_error(400, "messages.0.content.1: container_upload file_abc not found"), False),
        (stream_error("Overloaded", "overloaded_error"), True),
    ],
)
def test_other_errors_are_not_a_lost_container(scripted, stream):
    assert not is_container_lost(raised(scripted, stream=stream))
