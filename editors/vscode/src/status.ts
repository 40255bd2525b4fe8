// What the status bar item says, kept apart from `vscode` so it can be tested.

import { clockTime, Pause, PauseKind } from "./steering";

export type ServerState = "starting" | "loading" | "ready" | "error" | "stopped";

export interface StatusView {
  text: string;
  tooltip: string;
  isError: boolean;
}

const MENU_HINT = "click for the menu";

/** A paused state shows unless the server itself needs attention (an error, stopped). */
export function statusView(state: ServerState, detail?: string, pause?: Pause): StatusView {
  if (pause !== undefined && state !== "error" && state !== "stopped") {
    return pausedView(pause);
  }
  switch (state) {
    case "starting":
      return { text: "$(sync~spin) Refact", tooltip: "refact-lsp is starting", isError: false };
    case "loading":
      return {
        text: "$(sync~spin) Refact: loading",
        tooltip: detail ? `Loading model: ${detail}` : "Loading model",
        isError: false,
      };
    case "ready":
      return { text: "$(check) Refact", tooltip: `refact-lsp is ready (${MENU_HINT})`, isError: false };
    case "error":
      return {
        text: "$(error) Refact",
        tooltip: `refact-lsp: ${detail ?? "error"} (${MENU_HINT})`,
        isError: true,
      };
    case "stopped":
      return {
        text: "$(circle-slash) Refact",
        tooltip: `refact-lsp is not running (${MENU_HINT})`,
        isError: true,
      };
  }
}

function pausedView(pause: Pause): StatusView {
  switch (pause.kind) {
    case PauseKind.Off:
      return { text: "$(debug-pause) Refact: off", tooltip: `Suggestions are off (${MENU_HINT})`, isError: false };
    case PauseKind.Snoozed:
      return {
        text: "$(watch) Refact: snoozed",
        tooltip: `Suggestions are snoozed until ${clockTime(pause.until)} (${MENU_HINT})`,
        isError: false,
      };
    case PauseKind.Language:
      return {
        text: `$(debug-pause) Refact: off for ${pause.languageId}`,
        tooltip: `Suggestions are off for ${pause.languageId} (${MENU_HINT})`,
        isError: false,
      };
  }
}

/**
 * The state after one `$/progress` value from the server. An error reported while
 * loading stays shown after the progress ends: the server ends its progress either way.
 */
export function stateFromProgress(
  current: ServerState,
  kind: "begin" | "report" | "end",
  message?: string,
  percentage?: number,
): { state: ServerState; detail?: string } {
  if (kind === "end") {
    return { state: current === "loading" ? "ready" : current };
  }
  const parts = [message, percentage !== undefined ? `${Math.round(percentage)}%` : undefined];
  const detail = parts.filter((p) => p !== undefined && p !== "").join(" ");
  return { state: "loading", detail: detail || undefined };
}
