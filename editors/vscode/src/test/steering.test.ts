// The switch, snooze and per-language pause, and the status bar item's menu.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Command, menuEntries, pauseFor, PauseKind } from "../steering";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const ENABLE = { "*": true, markdown: false };

test("suggestions are wanted unless off, snoozed or off for the language", () => {
  assert.equal(pauseFor({ off: false }, ENABLE, "python", NOW), undefined);
  assert.deepEqual(pauseFor({ off: true }, ENABLE, "python", NOW), { kind: PauseKind.Off });
  assert.deepEqual(pauseFor({ off: false, snoozedUntil: NOW + 1 }, ENABLE, "python", NOW), {
    kind: PauseKind.Snoozed,
    until: NOW + 1,
  });
  assert.equal(pauseFor({ off: false, snoozedUntil: NOW }, ENABLE, "python", NOW), undefined, "a snooze ends");
  assert.deepEqual(pauseFor({ off: false }, ENABLE, "markdown", NOW), {
    kind: PauseKind.Language,
    languageId: "markdown",
  });
  assert.equal(pauseFor({ off: false }, ENABLE, undefined, NOW), undefined);
});

test("the menu offers the opposite of the current state", () => {
  const on = menuEntries({ off: false }, ENABLE, "python", NOW);
  assert.deepEqual(
    on.map((entry) => entry.command),
    [Command.Toggle, Command.Snooze, Command.ToggleLanguage, Command.ShowStats, Command.ShowLog, Command.Restart],
  );
  assert.match(on[0].label, /off/);
  assert.match(on[2].label, /off for python/);
  assert.equal(on[1].args, undefined, "snooze asks how long");

  const off = menuEntries({ off: true }, ENABLE, "markdown", NOW);
  assert.match(off[0].label, /on/);
  assert.ok(!off.some((entry) => entry.command === Command.Snooze), "nothing to snooze while off");
  assert.match(off.find((entry) => entry.command === Command.ToggleLanguage)?.label ?? "", /on for markdown/);

  const snoozed = menuEntries({ off: false, snoozedUntil: NOW + 60_000 }, ENABLE, undefined, NOW);
  const resume = snoozed.find((entry) => entry.command === Command.Snooze);
  assert.deepEqual(resume?.args, [0], "resume is a snooze of 0 minutes");
  assert.ok(!snoozed.some((entry) => entry.command === Command.ToggleLanguage), "no editor, no language");
});
