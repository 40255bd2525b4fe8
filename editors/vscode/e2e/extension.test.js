// The bundled extension (dist/extension.js, what the vsix ships) with the real
// vscode-languageclient and the real refact-lsp, under a fake `vscode` module. Needs
// REFACT_LSP_SERVER (the server command) and a cached test model; tests/test_vscode.py
// sets both up. Skipped without them.
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { test } = require("node:test");
const { install, document, Position, Range } = require("./fake-vscode");

const SERVER = process.env.REFACT_LSP_SERVER;
// Said by the test that waits for the server to count accepted suggestions.
const NO_ACCEPTANCE = "the server does not attach refact-lsp.accepted to its items yet";

async function waitFor(check, what, timeoutMs = 120000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const itemsOf = (result) => (result === null || result === undefined ? [] : (result.items ?? result));

test("the extension against the real server", { skip: !SERVER && "REFACT_LSP_SERVER is not set", timeout: 600000 }, async (t) => {
  const settings = {
    serverPath: SERVER,
    model: process.env.REFACT_LSP_MODEL || "qwen2.5-coder-0.5b",
    maxTokens: 32,
    enable: { "*": true, markdown: false },
    // The client's protocol trace shows each request it sends.
    "trace.server": "verbose",
  };
  const doc = document("/tmp/refact-vscode-test/add.py", "python", "def add(a, b):\n    return \n");
  const fake = install({ settings, documents: [doc], languages: ["markdown", "python"] });
  const extension = require(path.join(__dirname, "..", "dist", "extension.js"));
  const context = { subscriptions: [], globalState: fake.globalState };
  const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
  const complete = async (position = new Position(1, 11)) => itemsOf(await fake.inlineProvider.provideInlineCompletionItems(
    doc, position, { triggerKind: 1, selectedCompletionInfo: undefined }, token));
  const requestsSent = () => fake.trace.filter((line) => line.startsWith("Sending request 'textDocument/inlineCompletion")).length;
  const stats = async () => (await fake.execute("refact.showStats")).acceptance;
  try {
    await extension.activate(context);
    // The model loads after `initialized`: loading, then ready, in the status bar.
    await waitFor(() => fake.events.some(([kind, text]) => kind === "status" && /loading/.test(text)), "loading");
    await waitFor(() => /check/.test(fake.status.text ?? ""), "ready");
    assert.ok(fake.events.some(([kind, text]) => kind === "progress" && /Loading model/.test(text)));
    assert.ok(fake.inlineProvider, "no inline completion provider was registered");

    await t.test("completes Python as ghost text", async () => {
      const items = await complete();
      assert.ok(items.length > 0 && items[0].insertText.trim() !== "", JSON.stringify(items));
      assert.equal(items[0].range.start.line, 1);
    });

    await t.test("while off, snoozed or off for the language no request is sent", async () => {
      const sent = requestsSent();
      assert.ok(sent > 0, "the trace shows no request: it cannot tell whether one was sent");
      await fake.execute("refact.toggle");
      assert.match(fake.status.text, /off/);
      assert.equal(fake.globalState.get("refact.suggestionsOff"), true, "the switch is kept for the next start");
      assert.deepEqual(await complete(), []);
      await fake.execute("refact.toggle");

      await fake.execute("refact.snooze", 5);
      assert.match(fake.status.text, /snoozed/);
      assert.deepEqual(await complete(), []);
      await fake.execute("refact.snooze", 0);

      // The active editor's language, switched off in the user's refact.enable.
      await fake.execute("refact.toggleLanguage");
      assert.deepEqual(settings.enable, { "*": true, markdown: false, python: false });
      assert.match(fake.status.text, /off for python/);
      assert.deepEqual(await complete(), []);
      assert.equal(requestsSent(), sent, "a paused editor sent a request");

      await fake.execute("refact.toggleLanguage");
      assert.match(fake.status.text, /check/);
      assert.ok((await complete()).length > 0);
      assert.equal(requestsSent(), sent + 1);
    });

    await t.test("the status bar item opens the menu", async () => {
      assert.equal(fake.status.command, "refact.showMenu");
      await fake.execute("refact.showMenu");
      const [, menu] = fake.events.filter(([kind]) => kind === "quickPick").pop();
      assert.match(menu, /Turn suggestions off \| .*Snooze.* \| .*Turn off for python \| .*stats \| .*log \| .*Restart/);
    });

    await t.test("a settings change is sent to the running server", async () => {
      fake.changeSetting("maxTokens", 7);
      await waitFor(() => fake.trace.some((line) => line.startsWith("Sending notification 'workspace/didChangeConfiguration'")
                                                   && /"maxTokens": 7/.test(line)), "the new settings", 10000);
    });

    // The answer documents: what each showed, in order, and the last one opened.
    const answerUris = () => [...fake.answers.keys()];
    const shownIn = (uri) => fake.answers.get(uri);

    await t.test("the light bulb offers the code actions; Explain streams its answer into a Markdown document", async () => {
      const inside = new Range(new Position(0, 5), new Position(0, 5)); // the cursor in `add`
      const actions = await fake.codeActionProvider.provideCodeActions(
        doc, inside, { diagnostics: [], only: undefined, triggerKind: 1 }, token);
      assert.deepEqual(actions.map((action) => action.title), [
        "Refact: Explain this code", "Refact: Write a docstring", "Refact: Add type hints", "Refact: Ask about this..."]);
      assert.equal(actions[1].kind.value, "refactor.rewrite");
      const explain = actions[0].command;
      assert.equal(explain.command, "refact-lsp.codeAction");
      // VS Code runs the action's command; the client's command goes through the middleware.
      const result = await fake.execute(explain.command, ...explain.arguments);
      assert.ok(result && result.text.trim() !== "" && result.applied === false, JSON.stringify(result));
      const uri = answerUris().pop();
      assert.match(uri, /^refact-answer:\/answer-\d+\.md$/);
      assert.ok(fake.events.some(([kind, text]) => kind === "showDocument" && text === uri));
      const shown = shownIn(uri);
      assert.equal(shown[shown.length - 1], `## Explain this code\n\n${result.text}\n`);
      // Streamed: it showed parts of the answer before the whole.
      const partial = shown.slice(1, -1).filter((text) => text.length < shown[shown.length - 1].length);
      assert.ok(partial.length >= 1, JSON.stringify(shown));
      assert.ok(fake.trace.some((line) => line.startsWith("Sending request 'workspace/executeCommand")));
    });

    await t.test("Ask about this... in the light bulb asks for the question first", async () => {
      const actions = await fake.codeActionProvider.provideCodeActions(
        doc, new Range(0, 0, 1, 10), { diagnostics: [], only: undefined, triggerKind: 1 }, token);
      const ask = actions.find((action) => action.title === "Refact: Ask about this...").command;
      fake.inputs.push(""); // an empty question asks nothing
      assert.equal(await fake.execute(ask.command, ...ask.arguments), undefined);
      fake.inputs.push("Which two names does this function take? Answer in one short sentence.");
      const result = await fake.execute(ask.command, ...ask.arguments);
      assert.ok(result && result.text.trim() !== "", JSON.stringify(result));
      const shown = shownIn(answerUris().pop());
      assert.match(shown[shown.length - 1], /^## Which two names does this function take\?/);
    });

    await t.test("refact-lsp.ask sends refact/chat about the selection and streams the answer", async () => {
      fake.selection = new Range(0, 0, 1, 10);
      fake.inputs.push("What does this function return? Answer in one short sentence.");
      const before = answerUris().length;
      const text = await fake.execute("refact-lsp.ask");
      fake.selection = undefined;
      assert.ok(typeof text === "string" && text.trim() !== "", String(text));
      assert.equal(answerUris().length, before + 1);
      const shown = shownIn(answerUris().pop());
      assert.equal(shown[shown.length - 1], `## What does this function return? Answer in one short sentence.\n\n${text}\n`);
      const sent = fake.trace.find((line) => line.startsWith("Sending request 'refact/chat"));
      assert.ok(sent && /"workDoneToken": "refact-lsp-vscode\/answer-\d+"/.test(sent) && /"range"/.test(sent), sent);
    });

    await t.test("refact-lsp.explain streams until the notification's Cancel stops it", async () => {
      const before = answerUris().length;
      const running = fake.execute("refact-lsp.explain");
      await waitFor(() => answerUris().length > before && shownIn(answerUris().pop()).length > 1, "the first part of the answer");
      const [title, cancel] = fake.running.find(([name]) => /Explain this code/.test(name));
      assert.equal(title, "refact-lsp: Explain this code");
      cancel();
      assert.equal(await running, undefined);
      const shown = shownIn(answerUris().pop());
      assert.match(shown[shown.length - 1], /\*stopped\*\n$/);
      assert.deepEqual(fake.events.filter(([kind]) => kind === "error"), [], "a stop is no error");
    });

    await t.test("a partial and a whole accept reach the server's counts", async (t) => {
      const items = await complete();
      if (items[0]?.command === undefined) {
        t.skip(NO_ACCEPTANCE);
        return;
      }
      assert.equal(items[0].command.command, "refact-lsp.accepted");
      const shown = await stats();
      assert.ok(shown.shown >= 1, JSON.stringify(shown));

      // Ctrl+Right: VS Code takes the next word, then the extension reports how much.
      fake.showing = { item: items[0], document: doc, taken: 0 };
      await fake.execute("refact.acceptNextWord");
      const word = fake.showing.taken;
      assert.ok(word > 0 && doc.getText().startsWith(`def add(a, b):\n    return ${items[0].insertText.slice(0, word)}`));
      const partly = await stats();
      assert.equal(partly.partiallyAccepted, shown.partiallyAccepted + 1, JSON.stringify(partly));

      // Tab on the suggestion after that word: VS Code runs the item's command.
      const rest = await complete(new Position(1, 11 + word));
      assert.ok(rest.length > 0 && rest[0].command, JSON.stringify(rest));
      await fake.execute(rest[0].command.command, ...rest[0].command.arguments);
      const whole = await stats();
      assert.equal(whole.accepted, partly.accepted + 1, JSON.stringify(whole));
      assert.ok(whole.acceptedChars > shown.acceptedChars, JSON.stringify(whole));
    });

    assert.deepEqual(fake.events.filter(([kind]) => kind === "error"), []);
  } finally {
    await extension.deactivate();
  }
});

