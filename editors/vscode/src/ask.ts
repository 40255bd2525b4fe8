// Asking the model about code: the commands refact-lsp.ask and refact-lsp.explain, and
// the server's code actions in the light bulb. Those run the server's command
// refact-lsp.codeAction, which the client registers from the server's
// executeCommandProvider; the middleware runs it here rather than sending it as it is:
// "Ask about this..." gets its question from an input box, an answer to read streams
// into a read-only Markdown document beside the code, and an edit that was not applied
// says why.

import * as vscode from "vscode";
import {
  CancellationToken,
  ExecuteCommandRequest,
  LanguageClient,
  LSPErrorCodes,
  Middleware,
  Range as LspRange,
  ResponseError,
  WorkDoneProgress,
} from "vscode-languageclient/node";
import { Command } from "./steering";

export const CHAT_METHOD = "refact/chat";
export const CODE_ACTION_COMMAND = "refact-lsp.codeAction";
/** The scheme of the answer documents (read-only, served by `Answers`). */
export const ANSWER_SCHEME = "refact-answer";

/** The code action command's one argument (docs/chat.md). */
export interface ActionArgument {
  action: string;
  textDocument: { uri: string };
  range: LspRange;
  version?: number;
  question?: string;
  workDoneToken?: string;
}

/** What `refact-lsp.codeAction` returns. */
export interface ActionResult {
  text: string;
  applied: boolean;
  reason?: string;
}

const TITLES: Record<string, string> = {
  explain: "Explain this code",
  docstring: "Write a docstring",
  typeHints: "Add type hints",
  ask: "Ask about this...",
};
/** The actions whose answer the server puts in place of the code (workspace/applyEdit). */
const EDITS = new Set(["docstring", "typeHints"]);

/** The Markdown an answer document shows: what was asked, then the answer so far. */
export function answerMarkdown(heading: string, answer: string): string {
  return `## ${heading}\n\n${answer}\n`;
}

/** The answer documents: read-only, each updated as its answer streams. */
export class Answers implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private count = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  /** A new answer document, shown beside the code without taking the focus; returns
   * the function that sets the answer it shows. */
  async open(heading: string): Promise<(answer: string) => void> {
    this.count += 1;
    // The .md name makes VS Code show it as Markdown (its preview works on it too).
    const uri = vscode.Uri.from({ scheme: ANSWER_SCHEME, path: `/answer-${this.count}.md` });
    const key = uri.toString();
    this.texts.set(key, answerMarkdown(heading, "..."));
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document, {
      viewColumn: vscode.ViewColumn.Beside,
      preserveFocus: true,
      preview: false,
    });
    return (answer) => {
      this.texts.set(key, answerMarkdown(heading, answer));
      this.changed.fire(uri);
    };
  }
}

/** The commands and the middleware that ask the model and show its answers. */
export class Asker {
  private readonly answers = new Answers();
  private tokens = 0;

  constructor(private readonly client: () => LanguageClient | undefined) {}

  register(): vscode.Disposable[] {
    return [
      vscode.workspace.registerTextDocumentContentProvider(ANSWER_SCHEME, this.answers),
      vscode.commands.registerCommand(Command.Ask, () => this.ask()),
      vscode.commands.registerCommand(Command.Explain, () => this.explain()),
    ];
  }

  /** Runs the server's code action command here (see the top of this file). */
  middleware(): Middleware {
    return {
      executeCommand: (command, args, next) =>
        command === CODE_ACTION_COMMAND ? this.runAction(args[0] as ActionArgument) : next(command, args),
    };
  }

  /** refact-lsp.ask: a question about the selection, or the definition at the cursor. */
  async ask(): Promise<string | undefined> {
    const place = this.here();
    const question = place && (await askQuestion());
    if (place === undefined || question === undefined) {
      return undefined;
    }
    const { client, textDocument, range } = place;
    const params = { messages: [{ role: "user", content: question }], textDocument, range };
    const result = await this.stream(client, question, (workDoneToken, token) =>
      client.sendRequest<{ text: string }>(CHAT_METHOD, { ...params, workDoneToken }, token));
    return result?.text;
  }

  /** refact-lsp.explain: the explain action on the selection, or the definition at the
   * cursor, as the light bulb runs it. */
  async explain(): Promise<ActionResult | undefined> {
    const place = this.here();
    return place && this.runAction({ action: "explain", textDocument: place.textDocument, range: place.range });
  }

  /** A code action: answers to read stream into an answer document; the server applies
   * docstrings and type hints itself, and the person hears why where it did not. */
  async runAction(raw: ActionArgument): Promise<ActionResult | undefined> {
    const client = this.running();
    if (client === undefined) {
      return undefined;
    }
    const argument = { ...raw };
    if (argument.action === "ask" && !argument.question) {
      argument.question = await askQuestion();
      if (argument.question === undefined) {
        return undefined;
      }
    }
    const title = TITLES[argument.action] ?? argument.action;
    const send = (workDoneToken: string, token: CancellationToken) =>
      client.sendRequest(ExecuteCommandRequest.type, {
        command: CODE_ACTION_COMMAND,
        arguments: [{ ...argument, workDoneToken }],
      }, token) as Promise<ActionResult | undefined>;
    if (!EDITS.has(argument.action)) {
      return this.stream(client, argument.question ?? title, send);
    }
    // The code is put in place once whole; meanwhile the notification counts it.
    let result: ActionResult | undefined;
    try {
      result = await withCancel(`refact-lsp: ${title}`, (token, progress) =>
        this.listening(client, (text) => progress.report({ message: `${text.length} characters` }),
          (workDoneToken) => send(workDoneToken, token)));
    } catch (error) {
      showFailure(error);
      return undefined;
    }
    if (result && !result.applied) {
      void vscode.window.showWarningMessage(`refact-lsp: ${title}: ${result.reason ?? "not applied"}`);
    }
    return result;
  }

  /** Sends a request whose answer streams as `$/progress` on a token of ours, into a new
   * answer document; a notification offers to stop it. Its result's text is the last
   * word in the document; a failure is written there and shown. */
  private async stream<R extends { text: string } | undefined>(
    client: LanguageClient,
    heading: string,
    request: (workDoneToken: string, token: CancellationToken) => Promise<R>,
  ): Promise<R | undefined> {
    const show = await this.answers.open(heading);
    let sofar = "";
    const shown = (text: string) => {
      sofar = text;
      show(text);
    };
    try {
      const result = await withCancel(`refact-lsp: ${heading}`, (token) =>
        this.listening(client, shown, (workDoneToken) => request(workDoneToken, token)));
      if (result !== undefined) {
        show(result.text);
      }
      return result;
    } catch (error) {
      show(`${sofar}\n\n*${showFailure(error)}*`);
      return undefined;
    }
  }

  /** Runs `request` with a work-done token of ours (never one the server makes, which
   * the status bar would take for a model load), each report's answer so far to
   * `onText`. */
  private async listening<R>(
    client: LanguageClient,
    onText: (text: string) => void,
    request: (workDoneToken: string) => Promise<R>,
  ): Promise<R> {
    this.tokens += 1;
    const workDoneToken = `refact-lsp-vscode/answer-${this.tokens}`;
    const listener = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
      if (value.kind === "report" && typeof value.message === "string") {
        onText(value.message);
      }
    });
    try {
      return await request(workDoneToken);
    } finally {
      listener.dispose();
    }
  }

  /** The running client and where the active editor's selection (or cursor) is. */
  private here(): { client: LanguageClient; textDocument: { uri: string }; range: LspRange } | undefined {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      void vscode.window.showInformationMessage("refact-lsp: open a file to ask about its code.");
      return undefined;
    }
    const client = this.running();
    return client && {
      client,
      textDocument: { uri: editor.document.uri.toString() },
      range: client.code2ProtocolConverter.asRange(editor.selection),
    };
  }

  private running(): LanguageClient | undefined {
    const client = this.client();
    if (client === undefined || !client.isRunning()) {
      void vscode.window.showWarningMessage("refact-lsp is not running (Refact: Restart Server).");
      return undefined;
    }
    return client;
  }
}

/** The person's question, or undefined where they gave none. */
async function askQuestion(): Promise<string | undefined> {
  const question = await vscode.window.showInputBox({
    title: "Ask refact-lsp",
    prompt: "About the selection, or the definition at the cursor",
    placeHolder: "What does this do?",
  });
  return question?.trim() ? question.trim() : undefined;
}

type Progress = vscode.Progress<{ message?: string }>;

/** Runs `task` behind a notification whose Cancel cancels its request. */
function withCancel<T>(title: string, task: (token: CancellationToken, progress: Progress) => Promise<T>): Thenable<T> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    (progress, token) => task(token, progress),
  );
}

/** Shows why a request failed (not where the person stopped it); returns the sentence. */
function showFailure(error: unknown): string {
  if (error instanceof ResponseError && error.code === LSPErrorCodes.RequestCancelled) {
    return "stopped";
  }
  const reason = error instanceof Error ? error.message : String(error);
  void vscode.window.showErrorMessage(`refact-lsp: ${reason}`);
  return reason;
}
