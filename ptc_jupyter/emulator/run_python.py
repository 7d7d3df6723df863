"""The emulator playing a model without code execution whose host offers a `run_python` client tool
(`--sandbox local`, `ptc_jupyter/sandbox/`).

A request with no code_execution tool but a custom tool named `run_python` is answered from the
conversation alone, without a container: the prompt's fenced python blocks are sent, one per
response, as a direct `tool_use` of `run_python` with `{"code": block}`; the host runs each in its
local sandbox and answers with its output. Once every block has its result, the final text is
the results' texts (stripped, in order), as the PTC mode's answer is the scripts' stdout.
"""

from __future__ import annotations

from ptc_jupyter.emulator import rules, wire
from ptc_jupyter.emulator.steps import parse_steps
from ptc_jupyter.sandbox.tool import RUN_PYTHON

INTRO = (
    "Running the script from your prompt in the offline emulator as a model without code execution: "
    f"through your `{RUN_PYTHON}` tool."
)
NO_SCRIPT = (
    "This is the ptc-jupyter offline emulator, playing a model without code execution: you play Claude. "
    f"It sends the fenced ```python blocks of your prompt to your `{RUN_PYTHON}` tool, one at a time, and "
    "answers with what they print. Your prompt has no such block, so there is nothing to run."
)
NOTHING_PRINTED = "The script finished without printing anything."


def offers_run_python(toolset: rules.ToolSet) -> bool:
    return toolset.code_execution is None and RUN_PYTHON in (*toolset.programmatic, *toolset.direct_only)


def respond(body: dict, messages: list[dict]) -> dict:
    """The next response of a `run_python` turn: the next script to run, or the final text."""
    start = _prompt_index(messages)
    prompt = messages[start]
    scripts = [s.code for s in parse_steps(_text(prompt, start)) if s.kind == "python"]
    uses: list[str] = []
    results: dict[str, str] = {}
    for i in range(start + 1, len(messages)):
        for block in rules.content_blocks(messages[i], i):
            if (
                messages[i]["role"] == "assistant"
                and block.get("type") == "tool_use"
                and block.get("name") == RUN_PYTHON
            ):
                uses.append(str(block.get("id")))
            elif block.get("type") == "tool_result":
                if block.get("tool_use_id") not in uses:
                    raise rules.unexpected_result(
                        f"messages.{i}",
                        block.get("tool_use_id"),
                        f"The offline emulator only calls `{RUN_PYTHON}` in this mode.",
                    )
                results[block["tool_use_id"]] = rules.tool_result_text(block)
    if not scripts:
        return _message(body, [wire.text_block(NO_SCRIPT)], "end_turn")
    if len(uses) < len(scripts):
        call = {"id": wire.new_id("toolu"), "name": RUN_PYTHON, "input": {"code": scripts[len(uses)]}}
        content = [wire.text_block(INTRO)] if not uses else []
        return _message(body, [*content, wire.tool_use_block(call, {"type": "direct"})], "tool_use")
    texts = [results[u].strip() for u in uses if results.get(u, "").strip()]
    return _message(body, [wire.text_block("\n\n".join(texts) or NOTHING_PRINTED)], "end_turn")


def _prompt_index(messages: list[dict]) -> int:
    """The last user message that is not only tool results: the turn's prompt."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] != "user":
            continue
        blocks = rules.content_blocks(messages[i], i)
        if any(b.get("type") != "tool_result" for b in blocks):
            return i
    return 0


def _text(message: dict, index: int) -> str:
    return "\n".join(b.get("text", "") for b in rules.content_blocks(message, index) if b.get("type") == "text")


def _message(body: dict, content: list[dict], stop_reason: str) -> dict:
    return wire.message(body["model"], content, stop_reason, wire.usage(body, content, code_execution=False))
