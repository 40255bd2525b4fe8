// The built extension (out/extension.js) with the real vscode-languageclient and the real
// refact-lsp, under a fake `vscode` module. Needs REFACT_LSP_SERVER (the server command)
// and a cached test model; tests/test_vscode.py sets both up. Skipped without them.
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { test } = require("node:test");
const { install, document, Position } = require("./fake-vscode");

const SERVER = process.env.REFACT_LSP_SERVER;

async function waitFor(check, what, timeoutMs = 120000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test("the extension completes Python through the real server", { skip: !SERVER && "REFACT_LSP_SERVER is not set", timeout: 240000 }, async () => {
  const settings = {
    serverPath: SERVER,
    model: process.env.REFACT_LSP_MODEL || "qwen2.5-coder-0.5b",
    maxTokens: 32,
    enable: { "*": true, markdown: false },
  };
  const doc = document("/tmp/refact-vscode-test/add.py", "python", "def add(a, b):\n    return \n");
  const fake = install({ settings, documents: [doc], languages: ["markdown", "python"] });
  const extension = require(path.join(__dirname, "..", "out", "extension.js"));
  const context = { subscriptions: [] };
  const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
  const complete = () => fake.inlineProvider.provideInlineCompletionItems(
    doc, new Position(1, 11), { triggerKind: 1, selectedCompletionInfo: undefined }, token);
  try {
    await extension.activate(context);
    // The model loads after `initialized`: loading, then ready, in the status bar.
    await waitFor(() => fake.events.some(([kind, text]) => kind === "status" && /loading/.test(text)), "loading");
    await waitFor(() => /check/.test(fake.status.text ?? ""), "ready");
    assert.ok(fake.events.some(([kind, text]) => kind === "progress" && /Loading model/.test(text)));
    assert.ok(fake.inlineProvider, "no inline completion provider was registered");

    const result = await complete();
    const items = result.items ?? result;
    assert.ok(items.length > 0 && items[0].insertText.trim() !== "", JSON.stringify(result));
    assert.equal(items[0].range.start.line, 1);

    // A settings change is re-sent: turning Python off empties the answers.
    settings.enable = { "*": true, python: false };
    fake.configChanged.fire({ affectsConfiguration: (section) => section === "refact" || section === "refact.enable" });
    await new Promise((resolve) => setTimeout(resolve, 500)); // the notification is async
    const off = await complete();
    assert.equal((off.items ?? off).length, 0, JSON.stringify(off));
    assert.deepEqual(fake.events.filter(([kind]) => kind === "error"), []);
  } finally {
    await extension.deactivate();
  }
});
