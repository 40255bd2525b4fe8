// The mapping from VS Code's `refact.*` settings to what refact-lsp reads as
// `initializationOptions` and `workspace/didChangeConfiguration`. Kept free of the
// `vscode` module so that node's test runner can check it without an editor.

/** Reads one setting below `refact.`, as `WorkspaceConfiguration.get` does. */
export type ConfigGetter = (key: string) => unknown;

export interface ServerCommand {
  command: string;
  args: string[];
}

// The server's own defaults: used where a setting is missing or of the wrong type,
// so that what we send is always the whole state and never a stale partial update.
const DEFAULTS = {
  model: "refact-1.6b",
  maxTokens: 128,
  maxLines: 8,
  timeBudgetMs: 1000,
  candidates: 1,
  completeInComments: false,
  engineKind: "llama-cpp",
};

const ENGINE_KINDS = ["llama-cpp", "llama-server", "openai"];

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function positiveInt(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : fallback;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether `refact.enable` (`{"*": true, "markdown": false}`) has this language on. */
export function languageEnabled(enable: unknown, languageId: string): boolean {
  if (!isObject(enable)) {
    return true;
  }
  const own = enable[languageId];
  return typeof own === "boolean" ? own : enable["*"] !== false;
}

/**
 * The language ids to turn off, from `refact.enable`.
 *
 * The server only knows a deny list, so `"*": false` is turned into every known
 * language that is not explicitly switched on.
 */
export function disabledLanguages(enable: unknown, knownLanguages: readonly string[]): string[] {
  if (!isObject(enable)) {
    return [];
  }
  const ids = new Set([...knownLanguages, ...Object.keys(enable)]);
  ids.delete("*");
  return [...ids].filter((id) => !languageEnabled(enable, id)).sort();
}

/** `refact.enable` with one language switched on or off, for the user's settings. */
export function withLanguage(enable: unknown, languageId: string, on: boolean): Record<string, unknown> {
  return { ...(isObject(enable) ? enable : {}), [languageId]: on };
}

/** The settings object refact-lsp expects: camelCase keys, engine nested. */
export function serverSettings(
  get: ConfigGetter,
  knownLanguages: readonly string[] = [],
): Record<string, unknown> {
  const kind = text(get("engine.kind"));
  const engine: Record<string, unknown> = {
    kind: kind !== undefined && ENGINE_KINDS.includes(kind) ? kind : DEFAULTS.engineKind,
    // null, not absent: a cleared field must clear the server's previous value.
    url: text(get("engine.url")) ?? null,
    model: text(get("engine.model")) ?? null,
  };
  // Absent, never null, when empty: null would also clear a key the server took from
  // REFACT_LSP_API_KEY. A key cleared in the settings takes a restart (needsRestart).
  const apiKey = text(get("engine.apiKey"));
  if (apiKey !== undefined) {
    engine.apiKey = apiKey;
  }
  const settings: Record<string, unknown> = {
    model: text(get("model")) ?? DEFAULTS.model,
    maxTokens: positiveInt(get("maxTokens"), DEFAULTS.maxTokens),
    maxLines: positiveInt(get("maxLines"), DEFAULTS.maxLines),
    timeBudgetMs: positiveInt(get("timeBudgetMs"), DEFAULTS.timeBudgetMs),
    candidates: positiveInt(get("candidates"), DEFAULTS.candidates),
    completeInComments: get("completeInComments") === true,
    disabledLanguages: disabledLanguages(get("enable"), knownLanguages),
    engine,
  };
  // `refact.serverSettings` is the way to any other server setting; it wins.
  const extra = get("serverSettings");
  if (isObject(extra)) {
    for (const [key, value] of Object.entries(extra)) {
      settings[key] = key === "engine" && isObject(value) ? { ...engine, ...value } : value;
    }
  }
  return settings;
}

/** How to start the server: `refact.serverPath` plus `refact.serverArgs`. */
export function serverCommand(get: ConfigGetter): ServerCommand {
  const rawArgs = get("serverArgs");
  const args = Array.isArray(rawArgs) ? rawArgs.filter((a): a is string => typeof a === "string") : [];
  return { command: text(get("serverPath")) ?? "refact-lsp", args };
}

/**
 * True where a change needs a new server process: a new program or arguments, or an
 * API key cleared in the settings (the running server would keep the old one).
 */
export function needsRestart(affects: (section: string) => boolean, get: ConfigGetter): boolean {
  const keyCleared = affects("refact.engine.apiKey") && text(get("engine.apiKey")) === undefined;
  return affects("refact.serverPath") || affects("refact.serverArgs") || keyCleared;
}
