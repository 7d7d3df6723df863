"""Only the emulator's own client reaches it (`emulator/guard.py`, `emulator/sandbox.py`): the key,
the Host check, no CORS, and the sandbox's own directory and minimal environment. Each refusal is
checked to run nothing: the script would write a marker file."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
from pathlib import Path

import anthropic
import httpx2
import pytest
from emulator_helpers import CODE_EXECUTION, CliEmulator, script_prompt, wait_until

from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer
from ptc_jupyter.emulator.__main__ import parse_args
from ptc_jupyter.emulator.guard import host_of, is_loopback
from ptc_jupyter.emulator.server import exposure_warning

FAKE_SECRETS = {
    "ANTHROPIC_API_KEY": "fake-test-value-not-a-key",
    "PTC_EMULATOR_KEY": "ptc-test-not-the-key",
    "PTC_TEST_PRIVATE": "kernel-only-value",
}
SANDBOX_VARIABLES = {"PATH", "LANG", "LANGUAGE", "SYSTEMROOT", "HOME", "OUTPUT_DIR", "INPUT_DIR", "PYTHONUSERBASE"}
SHOW_ENV = "import json, os\nprint(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))"
FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.nip.io",
    "localhost.evil.example",
    "10.0.0.1",
    "[::2]:{port}",
    "",
]
LOOPBACK_HOSTS = [
    "127.0.0.1",
    "127.0.0.1:{port}",
    "localhost",
    "LOCALHOST:{port}",
    "localhost.",
    "127.8.9.10",
    "[::1]",
    "[::1]:{port}",
]
ADMIN_AND_API = [
    ("POST", "/v1/messages"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/m"),
    ("GET", "/_emulator/state"),
    ("POST", "/_emulator/faults"),
    ("GET", "/v1/nothing"),
]


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_SECRETS.items():
            patch.setenv(name, value)
        with EmulatorServer() as s:
            yield s


def request_body(code: str) -> dict:
    return {
        "model": "m",
        "max_tokens": 100,
        "tools": [CODE_EXECUTION],
        "messages": [{"role": "user", "content": script_prompt(code)}],
    }


def marker_body(marker: Path) -> bytes:
    return json.dumps(request_body(f"open({str(marker)!r}, 'w').write('ran')\nprint('wrote')")).encode()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def raw(url: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    """One request with exactly these headers (Host included); returns (status, headers, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "content-length": str(len(body or b""))}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read())
    finally:
        conn.close()


def refused_without_body(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    """Announce a 1 MB body and send none: only an answer given before reading the body comes back."""
    conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=10)
    try:
        conn.putrequest("POST", "/v1/messages", skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "content-type": "application/json", "content-length": "1000000"}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def no_cors_headers(headers) -> bool:
    return not [name for name in headers if name.lower().startswith("access-control-")]


# -- the key ---------------------------------------------------------------------------------------


def test_each_server_makes_its_own_key_unless_given_one():
    first, second = EmulatorServer(), EmulatorServer()
    assert first.api_key != second.api_key and len(first.api_key) >= 40
    config = EmulatorConfig(api_key="given-key-1234")
    assert EmulatorServer(config).api_key == "given-key-1234"
    assert "given-key-1234" not in repr(config)


def test_a_wrong_or_missing_key_runs_nothing(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    marker = tmp_path / "ran"
    with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
        anthropic.Anthropic(base_url=server.url, api_key=server.api_key[:-1], max_retries=0).messages.create(
            **json.loads(marker_body(marker))
        )
    host = f"127.0.0.1:{port_of(server.url)}"
    wrong_keys = [
        {},
        {"x-api-key": "wrong"},
        {"x-api-key": server.api_key + "x"},
        {"authorization": "Bearer wrong"},
        {"authorization": server.api_key},
    ]
    for method, path in ADMIN_AND_API:
        for key in wrong_keys:
            body = marker_body(marker) if path == "/v1/messages" else b'{"faults": [{"kind": "refusal"}]}'
            status, headers, answer = raw(server.url, method, path, {"host": host, **key}, body)
            assert (status, answer["error"]["type"]) == (401, "authentication_error"), (method, path, key)
            assert no_cors_headers(headers)
    assert not marker.exists() and server.faults.pending() == []
    status, _h, answer = raw(
        server.url,
        "POST",
        "/v1/messages",
        {"host": host, "authorization": f"Bearer {server.api_key}"},
        marker_body(marker),
    )
    assert status == 200 and answer["content"][-1]["text"] == "wrote" and marker.exists()
    assert server.api_key not in caplog.text


def test_a_wrong_key_is_refused_before_the_body_is_read(server):
    status, answer = refused_without_body(server.url, {"host": "127.0.0.1", "x-api-key": "wrong"})
    assert status == 401 and answer["error"]["message"] == "invalid x-api-key"


def test_key_sources_of_the_command_line():
    assert parse_args(["--api-key", "a"], environ={"PTC_EMULATOR_KEY": "b"}).api_key == "a"
    assert parse_args([], environ={"PTC_EMULATOR_KEY": "b"}).api_key == "b"
    assert parse_args([], environ={}).api_key is None
    assert parse_args(["--allow-host", "x", "--allow-host", "y"], environ={}).allowed_hosts == ("x", "y")


# -- the Host check --------------------------------------------------------------------------------


def test_host_names_are_parsed_strictly():
    assert [host_of(h) for h in ["LocalHost:80", "[::1]:8080", "127.0.0.1", "a.b.", "[::1"]] == [
        "localhost",
        "::1",
        "127.0.0.1",
        "a.b",
        None,
    ]
    assert [host_of(h) for h in ["::1", "a b", "user@localhost", "localhost:x", ""]] == [None] * 5
    assert [is_loopback(h) for h in ["localhost", "127.1.2.3", "::1", "0.0.0.0", "localhost.evil", "::2"]] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_foreign_host_is_refused_before_the_body_is_read(server, tmp_path):
    port, marker = port_of(server.url), tmp_path / "ran"
    for host in FOREIGN_HOSTS:
        status, answer = refused_without_body(server.url, {"host": host.format(port=port), "x-api-key": server.api_key})
        assert status == 421 and "DNS rebinding" in answer["error"]["message"], host
    status, headers, answer = raw(
        server.url,
        "POST",
        "/v1/messages",
        {"host": f"evil.example:{port}", "x-api-key": server.api_key},
        marker_body(marker),
    )
    assert status == 421 and answer["type"] == "error" and headers["request-id"] == answer["request_id"]
    assert "'evil.example:" in answer["error"]["message"]
    assert not marker.exists()


def test_a_request_without_host_is_refused(server):
    with socket.create_connection(("127.0.0.1", port_of(server.url)), timeout=10) as sock:
        sock.sendall(f"GET /v1/models HTTP/1.0\r\nx-api-key: {server.api_key}\r\n\r\n".encode())
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 421 ") and b"no Host header" in reply


def test_loopback_hosts_are_served(server):
    port = port_of(server.url)
    for host in LOOPBACK_HOSTS:
        status, _h, answer = raw(
            server.url, "GET", "/v1/models", {"host": host.format(port=port), "x-api-key": server.api_key}
        )
        assert status == 200 and answer["data"], host


def test_allowed_hosts_extend_the_host_check():
    with EmulatorServer(EmulatorConfig(allowed_hosts=("emulator.test",))) as server:
        key, port = {"x-api-key": server.api_key}, port_of(server.url)
        for host, expected in [(f"emulator.test:{port}", 200), ("Emulator.Test.", 200), ("other.test", 421)]:
            status, _h, answer = raw(server.url, "GET", "/v1/models", {"host": host, **key})
            assert status == expected, host
        assert "emulator.test" in answer["error"]["message"]


def test_listening_beyond_loopback_is_warned_about():
    for host in ("127.0.0.1", "::1", "localhost"):
        assert exposure_warning(host) is None
    warning = exposure_warning("0.0.0.0")
    assert warning is not None and "only guard" in warning


# -- no CORS ---------------------------------------------------------------------------------------


def test_no_cors_preflights_are_refused_and_no_cors_headers_sent(server):
    host = f"localhost:{port_of(server.url)}"
    origin = {"host": host, "origin": "http://evil.example"}
    for path in ("/v1/messages", "/v1/models", "/_emulator/state"):
        status, headers, answer = raw(
            server.url,
            "OPTIONS",
            path,
            {**origin, "access-control-request-method": "POST", "access-control-request-headers": "x-api-key"},
        )
        assert status == 405 and "no CORS" in answer["error"]["message"] and no_cors_headers(headers)
    for key in (server.api_key, "wrong"):
        status, headers, _answer = raw(server.url, "GET", "/v1/models", {**origin, "x-api-key": key})
        assert status in (200, 401) and no_cors_headers(headers)
    response = httpx2.post(
        server.url + "/v1/messages",
        json=request_body("print(1)"),
        headers={"x-api-key": server.api_key, "origin": "http://evil.example"},
    )
    assert response.status_code == 200 and no_cors_headers(response.headers)


# -- the sandbox's reach ---------------------------------------------------------------------------


def sandbox_view(client: anthropic.Anthropic) -> dict:
    """What a fresh container's script sees: its cwd and environment."""
    message = client.messages.create(**request_body(SHOW_ENV))
    return json.loads(message.content[-1].text)


def assert_minimal(view: dict, *hidden: str) -> None:
    env, cwd = view["env"], view["cwd"]
    assert {k for k in env if not k.startswith("LC_")} <= SANDBOX_VARIABLES
    assert not [v for v in env.values() for secret in hidden if secret in v]
    assert env["HOME"] == cwd != os.getcwd()
    assert env["OUTPUT_DIR"] == os.path.join(cwd, "outputs") and os.path.isdir(env["OUTPUT_DIR"])
    assert env["INPUT_DIR"] == os.path.join(cwd, "inputs") and os.path.isdir(env["INPUT_DIR"])


def test_the_sandbox_sees_no_secrets_and_works_in_a_directory_of_its_own(monkeypatch):
    for name, value in FAKE_SECRETS.items():
        monkeypatch.setenv(name, value)
    with EmulatorServer() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key, max_retries=0)
        views = [sandbox_view(client), sandbox_view(client)]
        for view in views:
            assert_minimal(view, server.api_key, *FAKE_SECRETS.values())
        assert views[0]["cwd"] != views[1]["cwd"]
    assert not [v["cwd"] for v in views if os.path.exists(v["cwd"])]  # removed with their containers


# -- the command-line emulator ---------------------------------------------------------------------


def test_the_command_line_emulator_runs_nothing_for_strangers(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PTC_EMULATOR_KEY"}
    env["ANTHROPIC_API_KEY"] = FAKE_SECRETS["ANTHROPIC_API_KEY"]
    marker = tmp_path / "ran"
    with CliEmulator(env=env) as cli:
        assert cli.key is not None and len(cli.key) >= 40
        assert cli.stdout == [cli.url, f"export ANTHROPIC_BASE_URL={cli.url}", f"export ANTHROPIC_API_KEY={cli.key}"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", cli.url)
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=cli.url, api_key="wrong", max_retries=0).messages.create(
                **json.loads(marker_body(marker))
            )
        status, _h, _answer = raw(
            cli.url, "POST", "/v1/messages", {"host": "evil.example", "x-api-key": cli.key}, marker_body(marker)
        )
        assert status == 421
        status, _answer = refused_without_body(cli.url, {"host": "evil.example", "x-api-key": cli.key})
        assert status == 421
        assert not marker.exists()
        view = sandbox_view(anthropic.Anthropic(base_url=cli.url, api_key=cli.key, max_retries=0))
        assert_minimal(view, cli.key, FAKE_SECRETS["ANTHROPIC_API_KEY"])
    assert [line for line in cli.stdout + cli.stderr if cli.key in line] == [cli.stdout[2]]
    wait_until(lambda: not os.path.exists(view["cwd"]))  # killed hard: the sandbox removed its own directory
