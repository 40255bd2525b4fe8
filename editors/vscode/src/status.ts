// What the status bar item says, kept apart from `vscode` so it can be tested.

export type ServerState = "starting" | "loading" | "ready" | "error" | "stopped";

export interface StatusView {
  text: string;
  tooltip: string;
  isError: boolean;
}

export function statusView(state: ServerState, detail?: string): StatusView {
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
      return { text: "$(check) Refact", tooltip: "refact-lsp is ready", isError: false };
    case "error":
      return {
        text: "$(error) Refact",
        tooltip: `refact-lsp: ${detail ?? "error"} (click for the log)`,
        isError: true,
      };
    case "stopped":
      return {
        text: "$(circle-slash) Refact",
        tooltip: "refact-lsp is not running (click for the log)",
        isError: true,
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
