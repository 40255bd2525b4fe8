// Whether suggestions are wanted now (the switch, a snooze, `refact.enable` per language)
// and what the status bar item's menu offers. Turning suggestions off is the client's
// job: while paused, no request is sent. Kept free of `vscode` so it can be tested.

import { languageEnabled } from "./settings";

/** The extension's commands, as contributed in package.json. */
export enum Command {
  ShowMenu = "refact.showMenu",
  Toggle = "refact.toggle",
  Snooze = "refact.snooze",
  ToggleLanguage = "refact.toggleLanguage",
  ShowStats = "refact.showStats",
  ShowLog = "refact.showLog",
  Restart = "refact.restartServer",
  AcceptNextWord = "refact.acceptNextWord",
  AcceptNextLine = "refact.acceptNextLine",
  Ask = "refact-lsp.ask",
  Explain = "refact-lsp.explain",
}

/** The snooze lengths the menu offers, in minutes. */
export const SNOOZE_MINUTES = [5, 15, 30, 60];

export interface SteeringState {
  /** Turned off with the toggle; kept across restarts. */
  off: boolean;
  /** Epoch milliseconds until which suggestions are snoozed. */
  snoozedUntil?: number;
}

export enum PauseKind {
  Off = "off",
  Snoozed = "snoozed",
  Language = "language",
}

export type Pause =
  | { kind: PauseKind.Off }
  | { kind: PauseKind.Snoozed; until: number }
  | { kind: PauseKind.Language; languageId: string };

/** Why no suggestions are wanted in a document of this language now, or undefined. */
export function pauseFor(
  state: SteeringState,
  enable: unknown,
  languageId: string | undefined,
  now: number,
): Pause | undefined {
  if (state.off) {
    return { kind: PauseKind.Off };
  }
  if (state.snoozedUntil !== undefined && state.snoozedUntil > now) {
    return { kind: PauseKind.Snoozed, until: state.snoozedUntil };
  }
  if (languageId !== undefined && !languageEnabled(enable, languageId)) {
    return { kind: PauseKind.Language, languageId };
  }
  return undefined;
}

/** A clock time for people: "14:05". */
export function clockTime(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export interface MenuEntry {
  label: string;
  description?: string;
  command: Command;
  args?: unknown[];
}

/** The status bar item's menu for the current state and the active editor's language. */
export function menuEntries(
  state: SteeringState,
  enable: unknown,
  languageId: string | undefined,
  now: number,
): MenuEntry[] {
  const entries: MenuEntry[] = [
    state.off
      ? { label: "$(play) Turn suggestions on", command: Command.Toggle }
      : { label: "$(debug-pause) Turn suggestions off", command: Command.Toggle },
  ];
  const snoozed = state.snoozedUntil !== undefined && state.snoozedUntil > now;
  if (snoozed) {
    entries.push({
      label: "$(play) Resume suggestions now",
      description: `snoozed until ${clockTime(state.snoozedUntil ?? now)}`,
      command: Command.Snooze,
      args: [0],
    });
  } else if (!state.off) {
    entries.push({ label: "$(watch) Snooze suggestions...", description: "for a few minutes", command: Command.Snooze });
  }
  if (languageId !== undefined) {
    entries.push(
      languageEnabled(enable, languageId)
        ? { label: `$(circle-slash) Turn off for ${languageId}`, command: Command.ToggleLanguage }
        : { label: `$(check) Turn on for ${languageId}`, command: Command.ToggleLanguage },
    );
  }
  entries.push(
    { label: "$(graph) Show acceptance stats", command: Command.ShowStats },
    { label: "$(output) Show server log", command: Command.ShowLog },
    { label: "$(debug-restart) Restart server", command: Command.Restart },
  );
  return entries;
}
