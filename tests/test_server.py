"""The real server over stdio with the real model, driven as an editor drives it."""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import TEST_MODEL, server_command

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

URI = "file:///work/example.py"

SOURCE = '''import math


def area_of_circle(radius):
    """Return the area of a circle."""


def main():
    print(area_of_circle(2.0))
'''


# A long module: evaluating its prompt takes seconds on a CPU, long enough to cancel.
LONG_SOURCE = SOURCE + "".join(
    f"\n\ndef helper_{i}(values):\n    total = 0\n    for value in values:\n"
    f"        total += value * {i}\n    return total\n" for i in range(120))


def capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities(),
            completion=types.CompletionClientCapabilities(),
        ),
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=server_command("--model",
                                                                            TEST_MODEL)))
async def client(lsp_client: LanguageClient, model_path):
    result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities(), initialization_options={"maxTokens": 64}))
    lsp_client.init_result = result
    yield
    await lsp_client.shutdown_session()


def open_document(client: LanguageClient, text: str = SOURCE, uri: str = URI,
                  version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def edit(client: LanguageClient, line: int, character: int, text: str, version: int,
         uri: str = URI) -> None:
    """An incremental insertion at (line, character), as editors send keystrokes."""
    position = types.Position(line, character)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [types.TextDocumentContentChangePartial(range=types.Range(position, position),
                                                text=text)]))


async def inline(client: LanguageClient, line: int, character: int, uri: str = URI,
                 trigger: types.InlineCompletionTriggerKind =
                 types.InlineCompletionTriggerKind.Automatic) -> types.InlineCompletionList:
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(trigger)))
    assert isinstance(result, types.InlineCompletionList)
    return result


def apply(text: str, item: types.InlineCompletionItem) -> str:
    """Accept an inline item the way an editor does: replace its range with its text."""
    lines = text.split("\n")
    rng = item.range
    assert rng is not None

    def offset(position: types.Position) -> int:
        return sum(len(line) + 1 for line in lines[:position.line]) + position.character

    insert = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    return text[:offset(rng.start)] + insert + text[offset(rng.end):]


async def test_capabilities(client: LanguageClient):
    caps = client.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    sync = caps.text_document_sync
    assert sync.change == types.TextDocumentSyncKind.Incremental
    assert client.init_result.server_info.name == "refact-lsp"


async def test_inline_completion_of_a_function_body_is_valid_python(client: LanguageClient):
    open_document(client)
    # Type the start of the body: a new indented line after the docstring.
    edit(client, 4, 38, "\n    ", version=2)
    result = await inline(client, 5, 4)
    assert len(result.items) == 1
    item = result.items[0]
    assert item.insert_text.strip()
    assert item.range.start == types.Position(5, 4)
    text = SOURCE.split("\n")
    text.insert(5, "    ")
    new_text = apply("\n".join(text), item)
    ast.parse(new_text)  # the suggestion leaves the module syntactically valid
    assert "return" in new_text or "math" in new_text


async def test_inside_a_word_only_a_key_press_asks_the_model(client: LanguageClient):
    """Typing inside a word is editing: nothing is generated. Asked for with a key
    (Invoked), the model writes the rest of the line there."""
    open_document(client, SOURCE.replace("print(area_of_circle(2.0))", "print(area_of(2.0))"))
    cursor = (8, len("    print(area_o"))

    async def generations() -> int:
        return plain(await client.protocol.send_request_async("refact/stats", {}))[
            "generations"]

    before = await generations()
    assert not (await inline(client, *cursor)).items
    assert await generations() == before
    asked = await inline(client, *cursor, trigger=types.InlineCompletionTriggerKind.Invoked)
    assert await generations() > before
    for item in asked.items:  # each one starts at the cursor
        assert item.range.start == types.Position(*cursor)


async def test_asked_for_in_a_gap_of_code_the_completion_runs_over_lines_to_close_it(
        client: LanguageClient):
    """A piece from the middle of one line to the middle of the next is gone (`val|al`):
    asked for there, the model writes over the line end and is cut where it meets the
    code after the cursor; the file parses again."""
    source = "def main():\n    values = [1, 2, 3]\n    total = sum(values)\n    print(total)\n"
    gap = source[:source.index("ues = [")] + source[source.index("al = sum"):]
    open_document(client, gap)
    result = await inline(client, 1, len("    val"),
                          trigger=types.InlineCompletionTriggerKind.Invoked)
    assert result.items, "nothing suggested"
    item = result.items[0]
    assert "\n" in item.insert_text and item.range.start == item.range.end
    filled = apply(gap, item)
    ast.parse(filled)
    assert "    total = sum(values)\n" in filled


async def test_plain_completion_returns_the_same_suggestion_with_a_text_edit(
        client: LanguageClient):
    open_document(client)
    edit(client, 4, 38, "\n    return ma", version=2)
    inline_result = await inline(client, 5, 13)
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(URI), position=types.Position(5, 13)))
    assert isinstance(result, types.CompletionList) and len(result.items) == 1
    item = result.items[0]
    assert item.text_edit is not None
    # The edit starts at the word before the cursor ("ma"), so clients filter on it.
    assert item.text_edit.range.start == types.Position(5, 11)
    assert item.text_edit.new_text == "ma" + inline_result.items[0].insert_text


async def test_model_load_is_reported_as_progress(client: LanguageClient):
    open_document(client)
    await inline(client, 8, 0)  # waits for the model
    await asyncio.sleep(0.2)
    kinds = [type(value).__name__ for reports in client.progress_reports.values()
             for value in reports]
    assert kinds[0] == "WorkDoneProgressBegin"
    assert kinds[-1] == "WorkDoneProgressEnd"


async def test_non_ascii_positions_are_utf16(client: LanguageClient):
    text = 'def greet():\n    s = "héllo 🐍 wörld"; n = len(\n'
    open_document(client, text)
    line = text.split("\n")[1]
    character = len(line.encode("utf-16-le")) // 2  # end of line in UTF-16 units
    result = await inline(client, 1, character)
    for item in result.items:
        assert item.range.start == types.Position(1, character)


async def test_cancel_request_is_answered(client: LanguageClient):
    open_document(client, "x = 1\n", uri="file:///work/other.py")
    await inline(client, 1, 0, uri="file:///work/other.py")  # the model is loaded
    open_document(client, LONG_SOURCE)
    edit(client, 4, 38, "\n    ", version=2)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(URI), position=types.Position(5, 4),
        context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Automatic))
    future = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="to-cancel"))
    await asyncio.sleep(0.05)  # under way (a small window after the jump may answer in 0.5 s)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))
    with pytest.raises(JsonRpcException) as raised:
        await asyncio.wait_for(future, timeout=120)  # how fast: benchmarks/typing_replay
    assert raised.value.code == types.LSPErrorCodes.RequestCancelled


async def test_a_newer_edit_supersedes_the_running_request(client: LanguageClient):
    open_document(client, "x = 1\n", uri="file:///work/other.py")
    await inline(client, 1, 0, uri="file:///work/other.py")  # the model is loaded
    open_document(client, LONG_SOURCE)
    edit(client, 4, 38, "\n    ", version=2)
    first = asyncio.ensure_future(inline(client, 5, 4))
    await asyncio.sleep(0.05)  # under way (a small window after the jump may answer in 0.5 s)
    edit(client, 5, 4, "r", version=3)
    stale = await asyncio.wait_for(first, timeout=120)
    assert not stale.items  # the answer for text that is gone is empty
    second = asyncio.ensure_future(inline(client, 5, 5))
    fresh = await asyncio.wait_for(second, timeout=120)
    assert all(item.range.start == types.Position(5, 5) for item in fresh.items)


async def test_requests_for_unknown_documents_get_empty_answers(client: LanguageClient):
    result = await inline(client, 0, 0, uri="file:///never/opened.py")
    assert not result.items


async def test_unparseable_params_get_an_error_not_silence(client: LanguageClient):
    # No `context` and a negative position: pygls alone would never answer this.
    future = concurrent.futures.Future()
    client.protocol._request_futures["bad-params"] = future  # where the answer will land
    client.protocol._send_data({  # raw: the typed client would refuse to send this
        "jsonrpc": "2.0", "id": "bad-params", "method": types.TEXT_DOCUMENT_INLINE_COMPLETION,
        "params": {"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}}})
    with pytest.raises(JsonRpcException) as raised:
        await asyncio.wait_for(asyncio.wrap_future(future), timeout=60)
    assert raised.value.code == types.ErrorCodes.InvalidParams
    open_document(client)
    assert isinstance(await inline(client, 8, 0), types.InlineCompletionList)


async def test_close_then_reopen(client: LanguageClient):
    open_document(client)
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        types.TextDocumentIdentifier(URI)))
    assert (await inline(client, 5, 4)).items == ()
    open_document(client, "x = 1\n", version=7)
    assert isinstance(await inline(client, 1, 0), types.InlineCompletionList)


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=server_command("--model", "/nonexistent/model.gguf")))
async def broken_client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities()))
    yield
    await lsp_client.shutdown_session()


async def test_a_missing_model_is_a_clear_message_and_empty_answers(
        broken_client: LanguageClient):
    open_document(broken_client)
    assert (await inline(broken_client, 5, 4)).items == ()
    await asyncio.sleep(0.2)
    messages = [m.message for m in broken_client.messages]
    assert any("/nonexistent/model.gguf" in m for m in messages), messages
    assert (await inline(broken_client, 5, 4)).items == ()  # still up


@pytest_lsp.fixture(config=ClientServerConfig(server_command=server_command("--model",
                                                                            TEST_MODEL)))
async def candidates_client(lsp_client: LanguageClient, model_path):
    result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities(), initialization_options={"maxTokens": 32,
                                                             "candidates": 3,
                                                             "candidateTemperature": 1.5}))
    lsp_client.init_result = result
    yield
    await lsp_client.shutdown_session()


# Places where Qwen2.5-Coder-0.5B is unsure: sampled candidates differ from the greedy one.
UNSURE = (("import math\n\n\ndef main():\n    values = [1, 2, 3]\n    \n", 5, 4),
          ("def greet(name):\n    print(\n", 1, 10))


async def test_candidates_are_distinct_items_in_the_same_order_in_both_requests(
        candidates_client: LanguageClient):
    client = candidates_client
    counts = []
    for index, (text, line, character) in enumerate(UNSURE):
        uri = f"file:///work/unsure{index}.py"
        open_document(client, text, uri=uri)
        items = (await inline(client, line, character, uri=uri)).items
        texts = [item.insert_text for item in items]
        assert 1 <= len(texts) <= 3 and len(set(texts)) == len(texts), texts
        assert all(item.command.command == "refact-lsp.accepted" for item in items)
        counts.append(len(texts))
        # Asked again (an editor's "next" key), the same items come, from the cache.
        again = (await inline(client, line, character, uri=uri)).items
        assert [item.insert_text for item in again] == texts
        menu = (await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri),
            position=types.Position(line, character)))).items
        assert [item.sort_text for item in menu] == sorted(item.sort_text for item in menu)
        assert [item.preselect for item in menu] == [True] + [False] * (len(texts) - 1)
        assert [item.text_edit.new_text for item in menu] == texts  # no word before
    assert max(counts) > 1, counts  # sampled candidates that differ from the greedy one


def execute(client: LanguageClient, command: str, *arguments: object):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command, arguments=list(arguments)))


def plain(value):
    """pygls's objects (named tuples) for a custom method's answer, as dicts."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    return value


async def acceptance(client: LanguageClient) -> dict:
    return plain(await client.protocol.send_request_async("refact/stats", {}))["acceptance"]


async def test_accepting_an_item_in_part_then_whole_changes_the_counts(client: LanguageClient):
    commands = client.init_result.capabilities.execute_command_provider.commands
    assert set(commands) == {"refact-lsp.accepted", "refact-lsp.partiallyAccepted",
                             "refact-lsp.codeAction"}
    open_document(client)
    edit(client, 4, 38, "\n    ", version=2)
    [item] = (await inline(client, 5, 4)).items
    assert item.command.command == "refact-lsp.accepted"
    [argument] = item.command.arguments
    item_id = plain(argument)["id"]
    assert (await acceptance(client))["shown"] == 1

    await execute(client, "refact-lsp.partiallyAccepted", {"id": item_id, "acceptedLength": 3})
    partly = await acceptance(client)
    assert (partly["partiallyAccepted"], partly["accepted"], partly["acceptedChars"]) == (1, 0, 3)

    await execute(client, "refact-lsp.accepted", {"id": item_id})
    whole = await acceptance(client)
    length = len(item.insert_text)
    assert (whole["partiallyAccepted"], whole["accepted"], whole["acceptedChars"]) == (
        0, 1, length)
    python = whole["byLanguage"]["python"]
    assert (python["shown"], python["accepted"], python["acceptedChars"]) == (1, 1, length)

    # Arguments of the wrong shape count nothing and break nothing.
    for arguments in ((), ({"id": 7},), ("x",), ({"id": item_id, "acceptedLength": "9"},)):
        await execute(client, "refact-lsp.partiallyAccepted", *arguments)
        await execute(client, "refact-lsp.accepted", *arguments)
    assert await acceptance(client) == whole
