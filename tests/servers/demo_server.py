"""A test MCP server (mcp 2.x) with one tool per behaviour the client must handle.

Start: `python tests/servers/demo_server.py [--http PORT]`. DEMO_FAIL_AT_START=1 makes it exit at
start with a message on stderr; DEMO_HANG_AT_START=1 makes it hang before speaking MCP.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    AudioContent,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)

mcp = MCPServer("demo", version="0.1")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers. Returns {"result": a + b}."""
    return a + b


@mcp.tool()
async def sleep(seconds: float) -> str:
    """Wait `seconds` (without blocking the server), then return "slept"."""
    await asyncio.sleep(seconds)
    return "slept"


_meetings: dict[str, tuple[int, asyncio.Event]] = {}


@mcp.tool()
async def meet(group: str, size: int, within: float = 5.0) -> str:
    """Wait until `size` calls of `group` are in this server at once: "met" if they were, "alone"
    if not within `within` seconds (so a client that sends its calls one by one gets "alone")."""
    arrived, everyone = _meetings.get(group, (0, asyncio.Event()))
    _meetings[group] = (arrived + 1, everyone)
    if arrived + 1 >= size:
        everyone.set()
    try:
        await asyncio.wait_for(everyone.wait(), within)
    except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        return "alone"
    return "met"


@mcp.tool()
async def block(seconds: float) -> str:
    """Block the server's whole event loop for `seconds` (a hung server)."""
    time.sleep(seconds)
    return "unblocked"


@mcp.tool()
async def crash(delay: float = 0.0) -> str:
    """Write to stderr and exit the process abruptly after `delay` seconds."""
    await asyncio.sleep(delay)
    print("demo: fatal: simulated crash", file=sys.stderr, flush=True)
    os._exit(3)


@mcp.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@mcp.tool()
def environment(name: str) -> str:
    """The value of environment variable `name` and the working directory, as "value|cwd"."""
    return f"{os.environ.get(name, '')}|{os.getcwd()}"


@mcp.tool()
def header(name: str, ctx: Context) -> str:
    """The value of HTTP request header `name` ("" over stdio)."""
    return (ctx.headers or {}).get(name.lower(), "")


@mcp.tool()
def boom() -> str:
    """Fails on purpose with a readable message."""
    raise ToolError("kaboom: the tool failed on purpose")


@mcp.tool()
def media() -> list[TextContent | ImageContent | AudioContent | ResourceLink | EmbeddedResource]:
    """Returns a text, an image, an audio clip, a resource link and an embedded text resource."""
    png = base64.b64encode(b"\x89PNG" + b"\0" * 2044).decode()
    return [
        TextContent(type="text", text="chart below"),
        ImageContent(type="image", data=png, mime_type="image/png"),
        AudioContent(type="audio", data=base64.b64encode(b"RIFF" + b"\0" * 96).decode(), mime_type="audio/wav"),
        ResourceLink(type="resource_link", name="report", uri="file:///tmp/report.csv", mime_type="text/csv"),
        EmbeddedResource(type="resource", resource=TextResourceContents(uri="memo://1", text="memo text")),
    ]


@mcp.tool()
def unstructured(text: str) -> str:
    """Echo `text` as plain text content."""
    return text


@mcp.tool(structured_output=False)
def unicode_text() -> str:
    """Non-ASCII text."""
    return "Zürich – 東京 ✓"


@mcp.tool(annotations=ToolAnnotations(destructive_hint=True))
def delete_file(path: str) -> str:
    """Pretends to delete a file."""
    return f"deleted {path}"


@mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
def write_note(text: str) -> str:
    """Pretends to append a note."""
    return "noted"


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup(key: str) -> str:
    """A read-only lookup."""
    return key.upper()


@mcp.tool(meta={"ptc/allowed_callers": ["direct"]})
def search(query: str, limit: int = 3) -> list[str]:
    """Search (the server asks for direct calls only)."""
    return [f"{query} {i}" for i in range(limit)]


@mcp.tool(meta={"ptc/side_effects": True, "ptc/allowed_callers": ["direct", "code_execution_20260120"]})
def send_email(to: str) -> str:
    """Side effects, but the server allows calls from code."""
    return f"sent to {to}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT")
    args = parser.parse_args()
    print("demo: starting", file=sys.stderr, flush=True)
    if os.environ.get("DEMO_FAIL_AT_START"):
        print("demo: cannot start: DEMO_TOKEN is not set", file=sys.stderr, flush=True)
        sys.exit(2)
    if os.environ.get("DEMO_HANG_AT_START"):
        time.sleep(3600)
    if args.http is None:
        mcp.run()
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
