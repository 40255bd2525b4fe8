// Which shown suggestion a partial accept took text from, and how much.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ServerCommand, shownItem, ShownItem, ShownSuggestions } from "../acceptance";

const URI = "file:///tmp/add.py";
const CURSOR = { line: 1, character: 11 };

function item(id: string, insertText: string, character = CURSOR.character): ShownItem {
  return { id, uri: URI, line: CURSOR.line, character, insertText };
}

// The document's line 1 as text from `character` to the end of the accepted part.
function line(text: string) {
  return (lineNumber: number, character: number) => (lineNumber === 1 ? text.slice(character) : undefined);
}

test("an item's id comes from its accept command", () => {
  const command = { command: ServerCommand.Accepted, title: "t", arguments: [{ id: "s1" }] };
  const range = { start: { line: 1, character: 4 } };
  assert.deepEqual(shownItem(URI, { insertText: "a + b", range, command }, CURSOR), {
    id: "s1", uri: URI, line: 1, character: 4, insertText: "a + b",
  });
  // No range: the text starts at the cursor.
  assert.equal(shownItem(URI, { insertText: "a + b", command }, CURSOR)?.character, 11);
  // Items without the server's command (an older server, another command) or snippets.
  assert.equal(shownItem(URI, { insertText: "a + b" }, CURSOR), undefined);
  assert.equal(shownItem(URI, { insertText: "a", command: { command: "other", arguments: [{ id: "x" }] } }, CURSOR), undefined);
  assert.equal(shownItem(URI, { insertText: { value: "a" }, command }, CURSOR), undefined);
  assert.equal(shownItem(URI, { insertText: "a", command: { command: ServerCommand.Accepted, arguments: [] } }, CURSOR), undefined);
});

test("accepting word by word reports the growing accepted length of the shown item", () => {
  const shown = new ShownSuggestions();
  shown.remember([item("best", "a + b"), item("second", "a - b")]);
  assert.deepEqual(shown.partialAccept(URI, line("    return a")), { id: "best", acceptedLength: 1 });
  assert.deepEqual(shown.partialAccept(URI, line("    return a + ")), { id: "best", acceptedLength: 4 });
  // The same text again (the command changed nothing new) is not reported twice.
  assert.equal(shown.partialAccept(URI, line("    return a + ")), undefined);
});

test("the item whose text matches is the one reported, after cycling to it", () => {
  const shown = new ShownSuggestions();
  shown.remember([item("best", "a + b"), item("second", "a - b")]);
  assert.deepEqual(shown.partialAccept(URI, line("    return a - ")), { id: "second", acceptedLength: 4 });
});

test("the newest answer wins; older ones still match text they alone explain", () => {
  const shown = new ShownSuggestions();
  shown.remember([item("old", "a + b")]);
  // VS Code asked again after the first word; the new answer starts after it.
  shown.remember([item("new", " + b", 12)]);
  assert.deepEqual(shown.partialAccept(URI, line("    return a + ")), { id: "new", acceptedLength: 3 });
  assert.deepEqual(shown.partialAccept(URI, line("    return a + b")), { id: "new", acceptedLength: 4 });
  const other = new ShownSuggestions();
  other.remember([item("old", "a + b")]);
  other.remember([item("new", "x", 12)]);
  assert.deepEqual(other.partialAccept(URI, line("    return a + ")), { id: "old", acceptedLength: 4 });
});

test("text that no shown item starts with, or another document, reports nothing", () => {
  const shown = new ShownSuggestions();
  shown.remember([item("best", "a + b")]);
  assert.equal(shown.partialAccept(URI, line("    return x")), undefined);
  assert.equal(shown.partialAccept("file:///tmp/other.py", line("    return a")), undefined);
  assert.equal(shown.partialAccept(URI, () => undefined), undefined, "the item starts after the accepted part");
  assert.equal(new ShownSuggestions().partialAccept(URI, line("    return a")), undefined);
});

test("Windows line ends count as one character of the suggestion", () => {
  const shown = new ShownSuggestions();
  shown.remember([item("best", "a\n    b")]);
  assert.deepEqual(shown.partialAccept(URI, () => "a\r\n"), { id: "best", acceptedLength: 2 });
});

test("the accepted length counts characters, not UTF-16 units", () => {
  const shown = new ShownSuggestions();
  shown.remember([item("best", "print('\u{1F600}')")]);
  // "print('" and the emoji: 8 characters, 9 UTF-16 units.
  assert.deepEqual(shown.partialAccept(URI, () => "print('\u{1F600}"), { id: "best", acceptedLength: 8 });
});
