"""ptc_jupyter.mcp.tools: MCP tool -> PTC Tool (policy, names, description, validation) and results -> text."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from anthropic.lib.tools import ToolError
from mcp import types as t

from ptc_jupyter.calls.tools import CODE_EXECUTION_CALLER, ToolDefinitionError, ToolInputError
from ptc_jupyter.mcp.tools import (
    annotated_side_effects,
    content_text,
    description,
    policy,
    ptc_name,
    result_text,
    to_ptc_tool,
)

SCHEMA = {
    "type": "object",
    "properties": {"ticker": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
    "required": ["ticker"],
}


def mcp_tool(name="get_stock_price", *, annotations=None, meta=None, output_schema=None, schema=None, desc="Price."):
    return t.Tool(
        name=name,
        description=desc,
        input_schema=schema or SCHEMA,
        annotations=annotations,
        output_schema=output_schema,
        _meta=meta,
    )


async def no_call(name, arguments):
    raise AssertionError("not called")


# -- policy ------------------------------------------------------------------------------------
def test_tools_are_programmatic_only_by_default():
    assert policy(mcp_tool()) == ([CODE_EXECUTION_CALLER], False)


@pytest.mark.parametrize(
    ("annotations", "side_effects"),
    [
        (t.ToolAnnotations(read_only_hint=True), False),
        (t.ToolAnnotations(read_only_hint=False), True),
        (t.ToolAnnotations(read_only_hint=False, destructive_hint=False), True),
        (t.ToolAnnotations(destructive_hint=True), True),
        (t.ToolAnnotations(read_only_hint=True, destructive_hint=True), False),  # read-only wins
        (t.ToolAnnotations(idempotent_hint=True), False),
    ],
)
def test_annotations_mark_side_effects(annotations, side_effects):
    assert annotated_side_effects(annotations) is side_effects


def test_side_effect_tools_are_direct_only():
    assert policy(mcp_tool(annotations=t.ToolAnnotations(destructive_hint=True))) == (["direct"], True)


def test_meta_sets_the_defaults_and_the_caller_overrides_them():
    hinted = mcp_tool(meta={"ptc/allowed_callers": ["direct"], "ptc/side_effects": True})
    assert policy(hinted) == (["direct"], True)
    assert policy(hinted, allowed_callers=[CODE_EXECUTION_CALLER], side_effects=False) == (
        [CODE_EXECUTION_CALLER],
        False,
    )
    assert policy(mcp_tool(meta={"ptc/allowed_callers": "direct"}))[0] == ["direct"]


@pytest.mark.parametrize("meta", [{"ptc/allowed_callers": ["everyone"]}, {"ptc/side_effects": "yes"}])
def test_bad_meta_is_refused_with_the_key_named(meta):
    with pytest.raises(ToolDefinitionError, match="ptc/"):
        policy(mcp_tool(meta=meta))


# -- names and description ---------------------------------------------------------------------
def test_names_are_prefixed_only_on_a_clash():
    assert ptc_name("search", "docs", taken=lambda n: False) == "search"
    assert ptc_name("search", "docs", taken=lambda n: n == "search") == "docs_search"
    assert ptc_name("search", "docs", taken=lambda n: False, prefix=True) == "docs_search"
    assert ptc_name("search", "docs", taken=lambda n: n in ("search", "docs_search")) == "docs_search_2"


def test_names_the_api_would_reject_are_sanitized():
    assert ptc_name("files/read.v2", "fs", taken=lambda n: False) == "files_read_v2"
    assert len(ptc_name("x" * 300, "fs", taken=lambda n: False)) == 128


def test_description_shows_the_output_shape_unwrapped():
    wrapped = {
        "type": "object",
        "properties": {"result": {"type": "integer", "title": "Result"}},
        "required": ["result"],
        "title": "addOutput",
    }
    assert description(mcp_tool(output_schema=wrapped), "s").endswith(
        'Returns JSON matching this schema: {"type":"integer"}'
    )
    plain = mcp_tool(output_schema={"type": "object", "properties": {"price": {"type": "number"}}})
    assert '{"type":"object","properties":{"price":{"type":"number"}}}' in description(plain, "s")
    text = {"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}
    assert description(mcp_tool(output_schema=text), "s") == "Price."
    assert description(mcp_tool(desc=None), "finance") == "Tool 'get_stock_price' of the MCP server 'finance'."


# -- validation --------------------------------------------------------------------------------
def test_valid_input_passes_through():
    tool = to_ptc_tool(mcp_tool(), no_call, server="finance")
    assert tool.validate({"ticker": "AAPL", "n": 2}) == {"ticker": "AAPL", "n": 2}
    assert (tool.source, tool.is_async, tool.side_effects) == ("mcp:finance", True, False)


@pytest.mark.parametrize(
    ("tool_input", "message"),
    [
        ({"ticker": 3}, "ticker: 3 is not of type 'string'"),
        ({}, "input: 'ticker' is a required property"),
        ({"ticker": "A", "n": 0}, "n: 0 is less than the minimum of 1"),
        ("AAPL", "input must be a JSON object, got str"),
    ],
)
def test_invalid_input_gets_a_readable_message(tool_input, message):
    tool = to_ptc_tool(mcp_tool(), no_call, server="finance")
    with pytest.raises(ToolInputError) as caught:
        tool.validate(tool_input)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_invalid_schema_is_refused_at_conversion():
    with pytest.raises(ToolDefinitionError, match="not valid JSON Schema"):
        to_ptc_tool(mcp_tool(schema={"type": "object", "properties": {"x": {"type": 5}}}), no_call, server="s")


def test_invoke_calls_the_server_with_the_mcp_name_and_returns_text():
    seen = []

    async def call(name, arguments):
        seen.append((name, arguments))
        return t.CallToolResult(
            content=[t.TextContent(type="text", text="{}")], structured_content={"ticker": "AAPL", "price": 1.5}
        )

    tool = to_ptc_tool(mcp_tool(name="price.get"), call, server="finance", name="finance_price_get")
    assert tool.name == "finance_price_get"
    assert json.loads(asyncio.run(tool.invoke(ticker="AAPL"))) == {"ticker": "AAPL", "price": 1.5}
    assert seen == [("price.get", {"ticker": "AAPL"})]


# -- results -----------------------------------------------------------------------------------
def test_structured_content_becomes_json_and_wrapped_values_are_unwrapped():
    result = t.CallToolResult(content=[t.TextContent(type="text", text="5")], structured_content={"result": 5})
    assert result_text(result) == '{"result": 5}'
    assert result_text(result, wrapped=True) == "5"
    text = t.CallToolResult(content=[], structured_content={"result": "Zürich"})
    assert result_text(text, wrapped=True) == "Zürich"


def test_content_blocks_become_text_and_media_a_short_note():
    png = base64.b64encode(b"\0" * 3000).decode()
    blocks = [
        t.TextContent(type="text", text="chart:"),
        t.ImageContent(type="image", data=png, mime_type="image/png"),
        t.AudioContent(type="audio", data="AAAA", mime_type="audio/wav"),
        t.ResourceLink(type="resource_link", name="report", uri="file:///r.csv", mime_type="text/csv"),
        t.EmbeddedResource(type="resource", resource=t.TextResourceContents(uri="memo://1", text="memo")),
        t.EmbeddedResource(type="resource", resource=t.BlobResourceContents(uri="bin://1", blob="AAAA")),
    ]
    assert [content_text(b) for b in blocks] == [
        "chart:",
        "[image (image/png, 2.9 kB) omitted: programmatic tool results must be text]",
        "[audio (audio/wav, 3 bytes) omitted: programmatic tool results must be text]",
        "[resource link: report <file:///r.csv>, text/csv]",
        "memo",
        "[resource <bin://1> (application/octet-stream, 3 bytes) omitted: binary]",
    ]
    assert result_text(t.CallToolResult(content=blocks[:2])).splitlines()[0] == "chart:"


def test_is_error_raises_tool_error_with_the_servers_text():
    with pytest.raises(ToolError) as caught:
        result_text(t.CallToolResult(content=[t.TextContent(type="text", text="unknown ticker")], is_error=True))
    assert caught.value.content == "unknown ticker"
