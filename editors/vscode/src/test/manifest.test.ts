// Checks package.json, the manifest VS Code and the marketplace read: workspace trust,
// the commands the code registers, key bindings, and what the vsix carries.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Command } from "../steering";

const ROOT = join(__dirname, "..", "..");
const PACKAGE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const PROPERTIES: Record<string, { scope?: string }> = PACKAGE.contributes.configuration.properties;

// Settings that run a program, or choose the model or where code and the key go.
const TRUSTED_ONLY = [
  "refact.serverPath",
  "refact.serverArgs",
  "refact.engine.url",
  "refact.engine.apiKey",
  "refact.model",
  "refact.serverSettings",
];

test("a workspace cannot choose the program, the model or where code goes before it is trusted", () => {
  const trust = PACKAGE.capabilities?.untrustedWorkspaces;
  assert.equal(trust?.supported, "limited", "capabilities.untrustedWorkspaces must declare limited support");
  const restricted: string[] = trust.restrictedConfigurations ?? [];
  for (const key of TRUSTED_ONLY) {
    const scope = PROPERTIES[key]?.scope;
    if (scope === "machine-overridable") {
      // A trusted workspace may set it; in Restricted Mode VS Code ignores its value.
      assert.ok(restricted.includes(key), `${key} is machine-overridable but not in restrictedConfigurations`);
    } else {
      assert.equal(scope, "machine", `${key} can be set by a workspace's .vscode/settings.json`);
    }
  }
  // What runs, its arguments and the key never come from a workspace.
  for (const key of ["refact.serverPath", "refact.serverArgs", "refact.engine.apiKey"]) {
    assert.equal(PROPERTIES[key].scope, "machine", key);
  }
  for (const key of restricted) {
    assert.ok(key in PROPERTIES, `restrictedConfigurations names an unknown setting ${key}`);
  }
});

test("the contributed commands are the ones the extension registers", () => {
  const contributed = PACKAGE.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual(contributed, Object.values(Command).sort());
});

test("accept word and accept line are bound while a suggestion is shown", () => {
  const bindings: { command: string; key: string; when: string }[] = PACKAGE.contributes.keybindings;
  for (const command of [Command.AcceptNextWord, Command.AcceptNextLine]) {
    const binding = bindings.find((b) => b.command === command);
    assert.ok(binding, `${command} has no key binding`);
    assert.match(binding.when, /inlineSuggestionVisible/);
  }
  const word = bindings.find((b) => b.command === Command.AcceptNextWord);
  // The key of VS Code's own editor.action.inlineSuggest.acceptNextWord, which it wraps.
  assert.equal(word?.key, "ctrl+right");
});

test("the manifest names a publisher, repository and icon, and ships the bundle", () => {
  assert.match(PACKAGE.publisher, /^[a-z0-9][a-z0-9-]*$/);
  assert.match(PACKAGE.repository.url, /^https:\/\//);
  assert.equal(PACKAGE.main, "./dist/extension.js");
  const icon = readFileSync(join(ROOT, PACKAGE.icon));
  assert.deepEqual([...icon.subarray(1, 4)], [...Buffer.from("PNG")]);
  // The marketplace wants at least 128x128 pixels: the IHDR chunk's width and height.
  assert.ok(icon.readUInt32BE(16) >= 128 && icon.readUInt32BE(20) >= 128);
  const ignore = readFileSync(join(ROOT, ".vscodeignore"), "utf8");
  assert.match(ignore, /^!dist\/extension\.js$/m);
  assert.match(ignore, /^\*\*$/m, "everything else stays out of the vsix (node_modules is bundled)");
});
