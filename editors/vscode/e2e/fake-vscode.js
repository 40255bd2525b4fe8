// A stand-in for the `vscode` module, so that the built extension and the real
// vscode-languageclient can run under node against the real server: no VS Code binary
// can be had in CI. Every API not written out here is a no-op proxy; the ones that
// carry values into LSP messages or that the test looks at are real.
"use strict";

const Module = require("node:module");

function noop(name) {
  return new Proxy(function () {}, {
    get(_target, prop) {
      if (prop === "then") return undefined; // not a promise
      if (prop === Symbol.toPrimitive) return () => "";
      if (prop === Symbol.iterator) return function* () {};
      if (typeof prop === "symbol") return undefined;
      return noop(`${name}.${prop}`);
    },
    set: () => true,
    apply: () => noop(`${name}()`),
    construct: () => noop(`new ${name}`),
  });
}

// An object whose missing members are no-op proxies.
function partial(name, members) {
  return new Proxy(members, { get: (t, p) => (p in t ? t[p] : noop(`${name}.${String(p)}`)) });
}

class EventEmitter {
  constructor() {
    this.listeners = [];
    // VS Code calls a listener with the `thisArgs` it was given (the client's document
    // sync passes its feature object and reads its own fields in the listener).
    this.event = (listener, thisArgs) => {
      this.listeners.push(thisArgs === undefined ? listener : listener.bind(thisArgs));
      return { dispose: () => {} };
    };
  }
  fire(value) {
    for (const listener of this.listeners) listener(value);
  }
  dispose() {}
}

class Position {
  constructor(line, character) {
    this.line = line;
    this.character = character;
  }
  isBefore(other) {
    return this.line < other.line || (this.line === other.line && this.character < other.character);
  }
  isAfter(other) {
    return other.isBefore(this);
  }
}

class Range {
  constructor(a, b, c, d) {
    [this.start, this.end] = typeof a === "number" ? [new Position(a, b), new Position(c, d)] : [a, b];
  }
}

const disposable = () => ({ dispose: () => {} });

class Uri {
  constructor(scheme, path) {
    Object.assign(this, { scheme, path, fsPath: path, authority: "", query: "", fragment: "" });
  }
  static from({ scheme, path }) {
    return new Uri(scheme, path);
  }
  static parse(text) {
    const [, scheme, path] = text.match(/^([\w+.-]+):(?:\/\/)?(.*)$/);
    return new Uri(scheme, scheme === "file" ? path : path.replace(/^(?!\/)/, "/"));
  }
  toString() {
    return this.scheme === "file" ? `file://${this.path}` : `${this.scheme}:${this.path}`;
  }
  toJSON() {
    return this.toString();
  }
}

class CodeActionKind {
  constructor(value) {
    this.value = value;
  }
  append(part) {
    return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
  }
  contains(other) {
    return this.value === "" || other.value === this.value || other.value.startsWith(`${this.value}.`);
  }
  intersects(other) {
    return this.contains(other) || other.contains(this);
  }
}
for (const [name, value] of Object.entries({
  Empty: "", QuickFix: "quickfix", Refactor: "refactor", RefactorExtract: "refactor.extract",
  RefactorInline: "refactor.inline", RefactorMove: "refactor.move", RefactorRewrite: "refactor.rewrite",
  Source: "source", SourceOrganizeImports: "source.organizeImports", SourceFixAll: "source.fixAll",
  Notebook: "notebook",
})) {
  CodeActionKind[name] = new CodeActionKind(value);
}

/** A cancellation token with its source, as withProgress hands one to its task. */
function cancellation() {
  const cancelled = new EventEmitter();
  const token = { isCancellationRequested: false, onCancellationRequested: cancelled.event };
  return { token, cancel: () => { token.isCancellationRequested = true; cancelled.fire(); } };
}

// VS Code's own commands that the extension runs. acceptNextWord takes the next word of
// the suggestion the test says is shown (`state.showing`) into the document.
function builtinCommands(state) {
  return {
    "editor.action.inlineSuggest.hide": () => {},
    "editor.action.inlineSuggest.acceptNextWord": () => {
      const { item, document, taken } = state.showing;
      const word = item.insertText.slice(taken).match(/^\s*(\w+|[^\w\s]+)|^\s+/)[0];
      const start = item.range.start;
      document.edit(document.positionAt(document.offsetAt(start) + taken), word);
      state.showing.taken += word.length;
    },
  };
}

/** Installs the fake for `require("vscode")`; returns what the test drives and reads. */
function install({ settings, documents, languages }) {
  const state = {
    events: [], // [kind, text]: status bar texts, messages shown, progress titles
    trace: [], // the client's protocol trace (refact.trace.server)
    status: { show() {}, hide() {}, dispose() {} },
    inlineProvider: undefined,
    configChanged: new EventEmitter(),
    documentChanged: new EventEmitter(),
    commands: new Map(),
    showing: undefined, // { item, document, taken }: the suggestion VS Code would show
    codeActionProvider: undefined, // the light bulb's provider, registered by the client
    selection: undefined, // the active editor's selection (a Range); the start of the file if unset
    inputs: [], // what the person types into the next input boxes
    answers: new Map(), // uri -> every text a virtual document (the answers) showed, in order
    running: [], // [title, cancel]: the progress notifications still shown, with their Cancel
    /** Runs a command as VS Code would: the extension's and the client's, or a built-in. */
    execute: async (command, ...args) => {
      const run = state.commands.get(command) ?? builtins[command];
      if (run === undefined) throw new Error(`command '${command}' not found`);
      return run(...args);
    },
    /** A user settings change, as the Settings editor makes it. */
    changeSetting: (key, value) => {
      settings[key] = value;
      state.configChanged.fire({
        affectsConfiguration: (section) => section === "refact" || section === `refact.${key}`,
      });
    },
  };
  const builtins = builtinCommands(state);
  for (const document of documents) document.changed = state.documentChanged;
  const record = (kind) => async (text) => {
    state.events.push([kind, String(text)]);
    return undefined;
  };
  const log = () => {};
  const memento = new Map();
  state.globalState = { get: (key, fallback) => (memento.has(key) ? memento.get(key) : fallback),
                        update: async (key, value) => void memento.set(key, value), keys: () => [...memento.keys()] };
  const vscode = partial("vscode", {
    version: "1.91.0",
    env: partial("env", { appName: "fake-vscode", language: "en", machineId: "m", sessionId: "s",
                          uriScheme: "vscode", appRoot: "/", uiKind: 1 }),
    EventEmitter,
    Position,
    Range,
    Uri,
    CodeActionKind,
    CodeAction: class { constructor(title, kind) { Object.assign(this, { title, kind }); } },
    CodeActionTriggerKind: { Invoke: 1, Automatic: 2 },
    ViewColumn: { Active: -1, Beside: -2, One: 1, Two: 2 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    LogLevel: { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 },
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    Disposable: Object.assign(function (f) { this.dispose = f; }, { from: disposable }),
    ThemeColor: class { constructor(id) { this.id = id; } },
    StatusBarAlignment: { Left: 1, Right: 2 },
    InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
    InlineCompletionItem: class {
      constructor(insertText, range, command) { Object.assign(this, { insertText, range, command }); }
    },
    InlineCompletionList: class { constructor(items) { this.items = items; } },
    SnippetString: class { constructor(value) { this.value = value; } },
    window: partial("window", {
      createOutputChannel: (name) => partial("channel", {
        name, appendLine: log, append: log, info: log, warn: log, error: log, debug: log,
        trace: (text) => state.trace.push(String(text)), show: log, dispose: log,
        logLevel: 1, onDidChangeLogLevel: disposable, // 1: Trace, so that the client traces
      }),
      createStatusBarItem: () => new Proxy(state.status, {
        set(target, prop, value) {
          target[prop] = value;
          if (prop === "text") state.events.push(["status", value]);
          return true;
        },
      }),
      showErrorMessage: record("error"),
      showWarningMessage: record("warning"),
      showInformationMessage: record("info"),
      showQuickPick: async (items) => {
        state.events.push(["quickPick", (await items).map((item) => item.label).join(" | ")]);
        return undefined;
      },
      get activeTextEditor() {
        return documents.length > 0
          ? { document: documents[0], selection: state.selection ?? new Range(0, 0, 0, 0) } : undefined;
      },
      withProgress: async (options, task) => {
        state.events.push(["progress", options.title]);
        const { token, cancel } = cancellation();
        const entry = [options.title, cancel];
        state.running.push(entry);
        try {
          return await task({ report: () => {} }, token);
        } finally {
          state.running.splice(state.running.indexOf(entry), 1);
        }
      },
      showInputBox: async (options) => {
        state.events.push(["inputBox", options.prompt]);
        return state.inputs.shift();
      },
      showTextDocument: async (document) => {
        state.events.push(["showDocument", document.uri.toString()]);
        return { document };
      },
    }),
    workspace: partial("workspace", {
      getConfiguration: (section) => ({
        get: (key, fallback) => (section === "refact" && key in settings ? settings[key] : fallback),
        inspect: (key) => ({ key: `${section}.${key}`, globalValue: settings[key] }),
        update: async (key, value) => state.changeSetting(key, value),
      }),
      onDidChangeConfiguration: state.configChanged.event,
      onDidChangeTextDocument: state.documentChanged.event,
      textDocuments: documents,
      workspaceFolders: undefined,
      // Virtual documents: every text one shows (at open, and at each change) is kept.
      registerTextDocumentContentProvider: (scheme, provider) => {
        state.contentProviders = { ...state.contentProviders, [scheme]: provider };
        const shown = (uri) => state.answers.get(uri.toString()).push(provider.provideTextDocumentContent(uri));
        const listening = provider.onDidChange?.(shown);
        return { dispose: () => listening?.dispose() };
      },
      openTextDocument: async (uri) => {
        const provider = state.contentProviders?.[uri.scheme];
        if (provider === undefined) throw new Error(`no document ${uri}`);
        state.answers.set(uri.toString(), [provider.provideTextDocumentContent(uri)]);
        return { uri, languageId: uri.path.endsWith(".md") ? "markdown" : "plaintext",
                 getText: () => provider.provideTextDocumentContent(uri) };
      },
    }),
    commands: partial("commands", {
      registerCommand: (command, run) => {
        if (state.commands.has(command)) throw new Error(`command '${command}' already exists`);
        state.commands.set(command, run);
        return { dispose: () => state.commands.delete(command) };
      },
      executeCommand: (command, ...args) => state.execute(command, ...args),
    }),
    languages: partial("languages", {
      getLanguages: async () => languages,
      match: () => 10,
      registerInlineCompletionItemProvider: (_selector, provider) => {
        state.inlineProvider = provider;
        return disposable();
      },
      registerCodeActionsProvider: (_selector, provider) => {
        state.codeActionProvider = provider;
        return disposable();
      },
    }),
  });
  const load = Module._load;
  Module._load = function (request, ...rest) {
    return request === "vscode" ? vscode : load.call(this, request, ...rest);
  };
  return state;
}

/** A document as VS Code hands it to the client; `edit` inserts text as a person would. */
function document(path, languageId, initialText) {
  const uri = { scheme: "file", fsPath: path, path, toString: () => `file://${path}`,
                toJSON: () => `file://${path}` };
  let text = initialText;
  const doc = {
    uri, fileName: path, languageId, version: 1, isClosed: false, isUntitled: false,
    changed: undefined, // the workspace's onDidChangeTextDocument emitter, set by install
    get lineCount() { return text.split("\n").length; },
    offsetAt: (position) => {
      const lines = text.split("\n");
      return lines.slice(0, position.line).reduce((sum, line) => sum + line.length + 1, 0) + position.character;
    },
    positionAt: (offset) => {
      const before = text.slice(0, offset).split("\n");
      return new Position(before.length - 1, before[before.length - 1].length);
    },
    getText: (range) => (range ? text.slice(doc.offsetAt(range.start), doc.offsetAt(range.end)) : text),
    edit: (position, inserted) => {
      const offset = doc.offsetAt(position);
      text = text.slice(0, offset) + inserted + text.slice(offset);
      doc.version += 1;
      const range = new Range(position, position);
      doc.changed.fire({ document: doc, reason: undefined,
                         contentChanges: [{ range, rangeOffset: offset, rangeLength: 0, text: inserted }] });
    },
  };
  return doc;
}

module.exports = { install, document, Position, Range };
