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
    this.event = (listener) => {
      this.listeners.push(listener);
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
}

class Range {
  constructor(a, b, c, d) {
    [this.start, this.end] = typeof a === "number" ? [new Position(a, b), new Position(c, d)] : [a, b];
  }
}

const disposable = () => ({ dispose: () => {} });

/** Installs the fake for `require("vscode")`; returns what the test drives and reads. */
function install({ settings, documents, languages }) {
  const state = {
    events: [], // [kind, text]: status bar texts, messages shown, progress titles
    status: { show() {}, hide() {}, dispose() {} },
    inlineProvider: undefined,
    configChanged: new EventEmitter(),
  };
  const record = (kind) => async (text) => {
    state.events.push([kind, String(text)]);
    return undefined;
  };
  const log = () => {};
  const vscode = partial("vscode", {
    version: "1.91.0",
    env: partial("env", { appName: "fake-vscode", language: "en", machineId: "m", sessionId: "s",
                          uriScheme: "vscode", appRoot: "/", uiKind: 1 }),
    EventEmitter,
    Position,
    Range,
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
        trace: log, show: log, dispose: log, logLevel: 2, onDidChangeLogLevel: disposable,
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
      withProgress: async (options, task) => {
        state.events.push(["progress", options.title]);
        return task({ report: () => {} }, { isCancellationRequested: false,
                                           onCancellationRequested: disposable });
      },
    }),
    workspace: partial("workspace", {
      getConfiguration: (section) => ({
        get: (key, fallback) => (section === "refact" && key in settings ? settings[key] : fallback),
      }),
      onDidChangeConfiguration: state.configChanged.event,
      textDocuments: documents,
      workspaceFolders: undefined,
    }),
    languages: partial("languages", {
      getLanguages: async () => languages,
      match: () => 10,
      registerInlineCompletionItemProvider: (_selector, provider) => {
        state.inlineProvider = provider;
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

/** A Python document as VS Code hands it to the client. */
function document(path, languageId, text) {
  const uri = { scheme: "file", fsPath: path, path, toString: () => `file://${path}`,
                toJSON: () => `file://${path}` };
  return { uri, fileName: path, languageId, version: 1, isClosed: false, isUntitled: false,
           getText: () => text, lineCount: text.split("\n").length };
}

module.exports = { install, document, Position };
