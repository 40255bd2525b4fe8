// Checks the settings mapping on the compiled JS with node's test runner: no editor needed.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { disabledLanguages, languageEnabled, needsRestart, serverCommand, serverSettings, withLanguage } from "../settings";
import { stateFromProgress, statusView } from "../status";
import { PauseKind } from "../steering";

// What VS Code's `getConfiguration("refact").get` returns when nothing is set: the
// defaults declared in package.json, read from the file so that the two cannot drift.
const PACKAGE = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
const PROPERTIES: Record<string, { default: unknown }> = PACKAGE.contributes.configuration.properties;
const DEFAULTS: Record<string, unknown> = Object.fromEntries(
  Object.entries(PROPERTIES).map(([key, schema]) => [key.replace(/^refact\./, ""), schema.default]),
);

function getter(overrides: Record<string, unknown> = {}): (key: string) => unknown {
  const values = { ...DEFAULTS, ...overrides };
  return (key) => values[key];
}

test("defaults map to the server's own defaults", () => {
  assert.deepEqual(serverSettings(getter()), {
    model: "refact-1.6b",
    maxTokens: 128,
    maxLines: 8,
    timeBudgetMs: 1000,
    candidates: 1,
    completeInComments: false,
    disabledLanguages: ["markdown", "plaintext", "scminput"],
    engine: { kind: "llama-cpp", url: null, model: null },
  });
});

test("user settings become camelCase initializationOptions", () => {
  const settings = serverSettings(
    getter({
      model: " /models/qwen.gguf ",
      maxTokens: 64,
      maxLines: 3,
      timeBudgetMs: 2500,
      completeInComments: true,
    }),
  );
  assert.equal(settings.model, "/models/qwen.gguf");
  assert.equal(settings.maxTokens, 64);
  assert.equal(settings.maxLines, 3);
  assert.equal(settings.timeBudgetMs, 2500);
  assert.equal(settings.completeInComments, true);
});

test("remote engine settings are nested under engine", () => {
  const settings = serverSettings(
    getter({
      "engine.kind": "openai",
      "engine.url": "http://127.0.0.1:8080/v1",
      "engine.apiKey": "sk-test",
      "engine.model": "qwen2.5-coder",
    }),
  );
  assert.deepEqual(settings.engine, {
    kind: "openai",
    url: "http://127.0.0.1:8080/v1",
    apiKey: "sk-test",
    model: "qwen2.5-coder",
  });
});

test("cleared fields are sent as null so a re-send clears them on the server", () => {
  const engine = serverSettings(getter({ "engine.url": "   " })).engine as Record<string, unknown>;
  assert.equal(engine.url, null);
  assert.equal(engine.model, null);
});

test("an empty API key is left out: null would wipe REFACT_LSP_API_KEY on the server", () => {
  for (const empty of ["", "   ", undefined, null, 42]) {
    const engine = serverSettings(getter({ "engine.apiKey": empty })).engine as Record<string, unknown>;
    assert.ok(!("apiKey" in engine), `apiKey ${JSON.stringify(empty)} was sent as ${JSON.stringify(engine.apiKey)}`);
  }
  const engine = serverSettings(getter({ "engine.apiKey": " sk-test " })).engine as Record<string, unknown>;
  assert.equal(engine.apiKey, "sk-test");
});

test("wrong types and unknown engine kinds fall back to the defaults", () => {
  const settings = serverSettings(
    getter({
      model: 42,
      maxTokens: -5,
      maxLines: 2.5,
      timeBudgetMs: "fast",
      candidates: 0,
      completeInComments: "yes",
      enable: "all",
      "engine.kind": "tensorflow",
    }),
  );
  assert.equal(settings.model, "refact-1.6b");
  assert.equal(settings.maxTokens, 128);
  assert.equal(settings.maxLines, 8);
  assert.equal(settings.timeBudgetMs, 1000);
  assert.equal(settings.candidates, 1);
  assert.equal(settings.completeInComments, false);
  assert.deepEqual(settings.disabledLanguages, []);
  assert.equal((settings.engine as Record<string, unknown>).kind, "llama-cpp");
});

test("missing settings (no package.json defaults) still give a full state", () => {
  const settings = serverSettings(() => undefined);
  assert.equal(settings.model, "refact-1.6b");
  assert.deepEqual(settings.disabledLanguages, []);
});

test("serverSettings passes other keys through and wins", () => {
  const settings = serverSettings(
    getter({
      maxTokens: 64,
      serverSettings: { nCtx: 8192, nGpuLayers: 0, maxTokens: 32, engine: { timeoutS: 5 } },
    }),
  );
  assert.equal(settings.nCtx, 8192);
  assert.equal(settings.nGpuLayers, 0);
  assert.equal(settings.maxTokens, 32);
  assert.deepEqual(settings.engine, { kind: "llama-cpp", url: null, model: null, timeoutS: 5 });
});

test("enable per language: false entries are disabled", () => {
  assert.deepEqual(disabledLanguages({ "*": true, rust: false, python: true }, ["python", "rust"]), [
    "rust",
  ]);
});

test("enable '*': false disables every known language not switched on", () => {
  assert.deepEqual(
    disabledLanguages({ "*": false, python: true }, ["go", "python", "rust"]),
    ["go", "rust"],
  );
});

test("enable that is not an object disables nothing", () => {
  assert.deepEqual(disabledLanguages(undefined, ["python"]), []);
  assert.deepEqual(disabledLanguages(["python"], ["python"]), []);
  assert.equal(languageEnabled("all", "python"), true);
});

test("one language is switched in the user's enable map, the others kept", () => {
  const enable = withLanguage({ "*": true, markdown: false }, "python", false);
  assert.deepEqual(enable, { "*": true, markdown: false, python: false });
  assert.equal(languageEnabled(enable, "python"), false);
  assert.equal(languageEnabled(enable, "go"), true);
  assert.equal(languageEnabled(withLanguage(enable, "python", true), "python"), true);
  assert.deepEqual(withLanguage(undefined, "go", false), { go: false });
});

test("server command comes from serverPath and serverArgs", () => {
  assert.deepEqual(serverCommand(getter()), { command: "refact-lsp", args: [] });
  assert.deepEqual(
    serverCommand(getter({ serverPath: "/venv/bin/refact-lsp", serverArgs: ["-v", 3, "--engine", "openai"] })),
    { command: "/venv/bin/refact-lsp", args: ["-v", "--engine", "openai"] },
  );
  assert.deepEqual(serverCommand(getter({ serverPath: "" })).command, "refact-lsp");
});

test("server path and args changes and a cleared API key need a restart", () => {
  assert.equal(needsRestart((s) => s === "refact.serverPath", getter()), true);
  assert.equal(needsRestart((s) => s === "refact.serverArgs", getter()), true);
  assert.equal(needsRestart((s) => s === "refact.model", getter()), false);
  // The running server would keep a key that is no longer sent.
  assert.equal(needsRestart((s) => s === "refact.engine.apiKey", getter({ "engine.apiKey": "" })), true);
  assert.equal(needsRestart((s) => s === "refact.engine.apiKey", getter({ "engine.apiKey": "k2" })), false);
});

test("status follows the model load progress", () => {
  assert.deepEqual(stateFromProgress("starting", "begin", "Loading model", 10), {
    state: "loading",
    detail: "Loading model 10%",
  });
  assert.deepEqual(stateFromProgress("loading", "end"), { state: "ready" });
  // An error shown during the load stays after the load's progress ends.
  assert.deepEqual(stateFromProgress("error", "end"), { state: "error" });
  assert.equal(statusView("error", "no model").isError, true);
  assert.match(statusView("loading", "Loading model").text, /loading/);
  assert.match(statusView("ready").text, /check/);
});

test("a pause shows in the status bar unless the server needs attention", () => {
  assert.match(statusView("ready", undefined, { kind: PauseKind.Off }).text, /off/);
  assert.match(statusView("loading", "x", { kind: PauseKind.Snoozed, until: Date.now() + 60_000 }).text, /snoozed/);
  assert.match(statusView("ready", undefined, { kind: PauseKind.Language, languageId: "go" }).text, /off for go/);
  assert.equal(statusView("error", "no model", { kind: PauseKind.Off }).isError, true);
  assert.doesNotMatch(statusView("stopped", undefined, { kind: PauseKind.Off }).text, /off/);
});

test("every contributed setting is used (trace.server is read by the client library)", () => {
  const read = new Set<string>();
  const recorder = (key: string) => {
    read.add(key);
    return DEFAULTS[key];
  };
  serverSettings(recorder);
  serverCommand(recorder);
  read.add("trace.server");
  assert.deepEqual([...read].sort(), Object.keys(DEFAULTS).sort());
});
