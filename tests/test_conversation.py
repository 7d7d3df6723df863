"""conversation.py and `ptc.run(..., conversation=...)`: earlier turns go along, the container
carries over, re-asking replaces a turn, long histories are trimmed at turn boundaries."""

from __future__ import annotations

import json

import pytest

import ptc_jupyter as ptc
from ptc_jupyter.conversation import Conversation
from ptc_jupyter.errors import RunError
from ptc_jupyter.host.attachments import FORGOTTEN

asked: list[int] = []


async def double(x: int) -> int:
    """Twice x. Returns an integer."""
    asked.append(x)
    return 2 * x


def ask(x: int, remember: bool = False) -> str:
    keep = "\nkept = locals().get('kept', 0) + 1\nprint('kept', kept)" if remember else ""
    return f"Double {x}.\n\n```python\nprint(await double({{'x': {x}}})){keep}\n```\n"


def run(session, prompt, conversation, **options):
    return ptc.run(prompt, tools=[double], offline=True, session=session, conversation=conversation, **options)


def test_a_second_turn_sends_the_first_and_reuses_its_container(session):
    conv = Conversation()
    first = run(session, ask(1, remember=True), conv)
    second = run(session, ask(2, remember=True), conv)
    assert first.conversation == {"id": conv.id, "turn": 1, "continues": None}
    assert second.conversation == {"id": conv.id, "turn": 2, "continues": {"turn": 1, "prompt": "Double 1."}}
    saved = second.to_dict()
    assert saved["conversation"] == second.conversation and ptc.Run.from_dict(saved).to_dict() == saved
    assert f'turn 2 of {conv.id}, continuing turn 1 ("Double 1.")' in str(second)
    assert second.container_id == first.container_id and "kept 2" in second.steps[-1].stdout  # REPL state
    assert conv.messages[0] == {"role": "user", "content": ask(1, True)}
    assert any(n.startswith(f"continues {conv.id} from turn 1") for n in second.notices)
    prompts = [t.prompt for t in conv.turns]
    assert prompts == [ask(1, True), ask(2, True)]


def test_the_second_request_carries_the_earlier_messages(session, emulator, tmp_path):
    from ptc_jupyter.host.background import background_loop
    from ptc_jupyter.host.recording import session_for

    conv = Conversation()
    run(session, ask(1), conv)
    recording = tmp_path / "second.jsonl"

    async def recorded():
        async with session_for(str(recording), None, base=session) as rec:
            return await ptc.arun(ask(2), tools=[double], offline=True, session=rec, conversation=conv)

    background_loop.run(recorded())
    import json

    first_request = json.loads(recording.read_text().splitlines()[0])["request"]
    texts = json.dumps(first_request["messages"])
    assert "Double 1." in texts and "Double 2." in texts and first_request["messages"][0]["role"] == "user"


def lookup(key: str) -> str:
    return key


lookup.__doc__ = (
    """The record stored under `key`, as JSON: {"key": str, "owner": str, "status": "open" | "closed",
    "history": [{"at": ISO date, "by": str, "what": str}, ...]}. """
    + "Field notes for the script that reads it. " * 150
)  # past the 1,024-token minimum


def test_a_second_turn_reads_the_first_from_the_prompt_cache(session, tmp_path):
    """The first request of a `--continue` turn reads everything the first turn wrote (tools, prompt,
    script) and writes only what is new: the first turn's answer and the new prompt."""
    from ptc_jupyter.host.background import background_loop
    from ptc_jupyter.host.recording import read_entries, session_for

    conv, usages = Conversation(), []
    for turn, key in enumerate(("a", "b")):
        recording = tmp_path / f"turn{turn}.jsonl"
        prompt = f"Look up {key}.\n\n```python\nprint(await lookup({{'key': '{key}'}}))\n```\n"

        async def recorded(recording=recording, prompt=prompt):
            async with session_for(str(recording), None, base=session) as rec:
                return await ptc.arun(
                    prompt, tools=[lookup], offline=True, session=rec, conversation=conv, stream=False
                )

        assert background_loop.run(recorded()).status == "completed"
        usages.append([e["body"]["usage"] for e in read_entries(recording)])
    (first_write, first_pause), (second_first, _) = usages
    assert first_write["cache_creation_input_tokens"] > 1024 and first_write["cache_read_input_tokens"] == 0
    written_by_turn_one = first_pause["cache_read_input_tokens"] + first_pause["cache_creation_input_tokens"]
    assert second_first["cache_read_input_tokens"] == written_by_turn_one
    assert 0 < second_first["cache_creation_input_tokens"] < 200 and second_first["input_tokens"] < 50


def test_asking_again_from_the_same_source_replaces_that_turn(session):
    conv = Conversation()
    run(session, ask(1), conv)
    run(session, ask(2), conv, source="cell-7")
    again = run(session, ask(3), conv, source="cell-7")
    assert [t.prompt for t in conv.turns] == [ask(1), ask(3)]
    assert any("earlier turn 2 is replaced" in n for n in again.notices)
    assert again.conversation["turn"] == 2


def test_a_failed_run_leaves_the_conversation_as_it_was(emulator, session):
    conv = Conversation()
    run(session, ask(1), conv)
    before = (list(conv.turns), list(conv.messages))
    emulator.inject({"status": 500, "count": 3})
    with pytest.raises(RunError):
        run(session, ask(2), conv)
    assert (conv.turns, conv.messages) == before


def test_long_histories_drop_whole_turns_oldest_first(session):
    conv = Conversation(max_turns=3)
    for x in range(1, 5):
        last = run(session, ask(x), conv)
    assert [t.number for t in conv.turns] == [2, 3, 4]
    assert any("oldest 1 turn(s) were left out" in n for n in last.notices)
    assert conv.messages[0] == {"role": "user", "content": ask(2)}


def recorded(session, path, prompt, conversation, **options):
    """`run`, with its API exchange saved to `path`; returns the run and the request bodies sent."""
    from ptc_jupyter.host.background import background_loop
    from ptc_jupyter.host.recording import read_entries, session_for

    async def go():
        async with session_for(str(path), None, base=session) as rec:
            return await ptc.arun(
                prompt, tools=[double], offline=True, session=rec, conversation=conversation, **options
            )

    result = background_loop.run(go())
    return result, [e["request"] for e in read_entries(path)]


def prompts_sent(messages: list[dict]) -> list[str]:
    """The text of each user message that is a prompt (not a message of tool results)."""
    texts = []
    for m in messages:
        content = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        if m["role"] == "user" and not any(b["type"] == "tool_result" for b in content):
            texts.append("".join(b.get("text", "") for b in content if b["type"] == "text"))
    return texts


def read_input(name: str) -> str:
    return (
        f"Read it.\n\n```python\nimport os\nprint(open(os.path.join(os.environ['INPUT_DIR'], '{name}')).read())\n```\n"
    )


def test_re_asking_sends_the_history_without_the_replaced_turn(session, tmp_path):
    conv = Conversation()
    run(session, ask(1), conv)
    run(session, ask(2), conv, source="cell-7")
    again, requests = recorded(session, tmp_path / "again.jsonl", ask(3), conv, source="cell-7")
    assert again.status == "completed" and again.conversation["turn"] == 2
    first = requests[0]["messages"]
    assert prompts_sent(first) == [ask(1), ask(3)]  # turn 2's prompt and its script's exchange are gone
    assert "Double 2." not in json.dumps(first) and "Double 1." in json.dumps(first)


def test_a_file_attached_in_one_turn_is_read_again_in_the_next(session, client, tmp_path):
    """The upload is deleted after its run; its block leaves the history for a note, and the
    container keeps the file, so the next turn reads it (the block would be a 404 otherwise)."""
    data = tmp_path / "sales.csv"
    data.write_text("region,total\nnorth,7\n")
    conv, files_before = Conversation(), emulator_files(client)
    first = run(session, read_input("sales.csv"), conv, files=[data])
    second, requests = recorded(session, tmp_path / "second.jsonl", read_input("sales.csv"), conv)
    assert first.status == second.status == "completed"
    assert "north,7" in first.steps[-1].stdout and "north,7" in second.steps[-1].stdout
    sent = json.dumps(requests[0]["messages"])
    assert "container_upload" not in sent and f"{FORGOTTEN} sales.csv" in sent
    assert requests[0]["container"] == first.container_id == second.container_id
    assert emulator_files(client) == files_before  # nothing left behind in the Files API


def test_files_of_earlier_turns_are_named_when_their_container_is_gone(session, emulator, tmp_path):
    data = tmp_path / "sales.csv"
    data.write_text("region,total\nnorth,7\n")
    conv = Conversation()
    run(session, read_input("sales.csv"), conv, files=[data])
    emulator.inject({"kind": "expired_container"})
    second = run(session, read_input("sales.csv"), conv)
    assert second.status == "completed" and "FileNotFoundError" in second.steps[-1].stderr
    gone = [n for n in second.notices if "could not be reused" in n]
    assert gone and "files earlier turns attached: sales.csv" in gone[0]


def test_kept_files_stay_attached_in_the_history(session, emulator, tmp_path):
    data = tmp_path / "sales.csv"
    data.write_text("region,total\nnorth,7\n")
    conv = Conversation()
    run(session, read_input("sales.csv"), conv, files=[data], keep_files=True)
    second, requests = recorded(session, tmp_path / "second.jsonl", read_input("sales.csv"), conv)
    assert second.status == "completed" and "container_upload" in json.dumps(requests[0]["messages"])


def test_a_file_for_the_local_sandbox_is_copied_into_it_and_stays_for_the_conversation(session, tmp_path):
    data = tmp_path / "sales.csv"
    data.write_text("region,total\nnorth,7\n")
    conv = Conversation()
    first, requests = recorded(
        session, tmp_path / "first.jsonl", read_input("sales.csv"), conv, files=[data], sandbox="local"
    )
    second = run(session, read_input("sales.csv"), conv, sandbox="local")
    assert "north,7" in first.steps[-1].stdout and "north,7" in second.steps[-1].stdout
    assert "container_upload" not in json.dumps([r["messages"] for r in requests])
    assert prompts_sent(requests[0]["messages"])[-1].endswith("($INPUT_DIR): sales.csv")


def emulator_files(client) -> int:
    return client.get("/_emulator/state", cast_to=object)["files"]


def test_the_package_names_what_the_readme_uses():
    from ptc_jupyter.host.session import Session

    assert ptc.Conversation is Conversation and ptc.Session is Session  # `ptc.Conversation()` in the README
