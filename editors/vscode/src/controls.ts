// The person's controls: the switch, snooze, off per language, the status bar item's
// menu, acceptance stats, and accept word / line that tell the server what was taken.

import * as vscode from "vscode";
import { ExecuteCommandRequest, LanguageClient, Middleware } from "vscode-languageclient/node";
import { InlineItem, PartialAccept, ServerCommand, shownItem, ShownItem, ShownSuggestions } from "./acceptance";
import { languageEnabled, withLanguage } from "./settings";
import { Command, menuEntries, Pause, pauseFor, SNOOZE_MINUTES, SteeringState } from "./steering";

const OFF_KEY = "refact.suggestionsOff"; // globalState: the switch survives a restart
// How long an accept command may take to show its edit to the extension host.
const EDIT_WAIT_MS = 200;

const BUILTIN_ACCEPT = {
  [Command.AcceptNextWord]: "editor.action.inlineSuggest.acceptNextWord",
  [Command.AcceptNextLine]: "editor.action.inlineSuggest.acceptNextLine",
};

function enableSetting(): unknown {
  return vscode.workspace.getConfiguration("refact").get("enable");
}

/** The first edit of `document`, or undefined when none comes within `ms`. */
function nextEdit(document: vscode.TextDocument, ms: number): Promise<vscode.TextDocumentContentChangeEvent | undefined> {
  return new Promise((resolve) => {
    const listener = vscode.workspace.onDidChangeTextDocument((event) => {
      if (event.document === document && event.contentChanges.length > 0) {
        finish(event.contentChanges[event.contentChanges.length - 1]);
      }
    });
    const timer = setTimeout(() => finish(undefined), ms);
    function finish(change: vscode.TextDocumentContentChangeEvent | undefined): void {
      clearTimeout(timer);
      listener.dispose();
      resolve(change);
    }
  });
}

export class Controls {
  private readonly shown = new ShownSuggestions();
  private state: SteeringState;
  private snoozeTimer: NodeJS.Timeout | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the switch or a snooze changes (the settings have their own event). */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly memento: vscode.Memento,
    private readonly client: () => LanguageClient | undefined,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.state = { off: memento.get<boolean>(OFF_KEY, false) };
  }

  /** Why suggestions are paused for a document of this language, or undefined. */
  pause(languageId: string | undefined): Pause | undefined {
    return pauseFor(this.state, enableSetting(), languageId, Date.now());
  }

  /** The client middleware: no request while paused; remember what was shown. */
  middleware(): Middleware {
    return {
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (this.pause(document.languageId) !== undefined) {
          return null;
        }
        const result = await next(document, position, context, token);
        const items: InlineItem[] = Array.isArray(result) ? result : (result?.items ?? []);
        const uri = document.uri.toString();
        this.shown.remember(
          items.map((item) => shownItem(uri, item, position)).filter((item): item is ShownItem => item !== undefined),
        );
        return result;
      },
      provideCompletionItem: (document, position, context, token, next) =>
        this.pause(document.languageId) !== undefined ? null : next(document, position, context, token),
    };
  }

  register(): vscode.Disposable[] {
    const register = (command: Command, run: (...args: any[]) => unknown) =>
      vscode.commands.registerCommand(command, run);
    return [
      this.changed,
      { dispose: () => clearTimeout(this.snoozeTimer) },
      register(Command.ShowMenu, () => this.showMenu()),
      register(Command.Toggle, () => this.toggle()),
      register(Command.Snooze, (minutes?: number) => this.snooze(minutes)),
      register(Command.ToggleLanguage, (languageId?: string) => this.toggleLanguage(languageId)),
      register(Command.ShowStats, () => this.showStats()),
      register(Command.AcceptNextWord, () => this.acceptPart(Command.AcceptNextWord)),
      register(Command.AcceptNextLine, () => this.acceptPart(Command.AcceptNextLine)),
    ];
  }

  private async setState(state: SteeringState): Promise<void> {
    this.state = state;
    await this.memento.update(OFF_KEY, state.off);
    if (this.pause(undefined) !== undefined) {
      await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    }
    this.changed.fire();
  }

  async toggle(): Promise<void> {
    await this.setState({ off: !this.state.off });
  }

  /** Snooze for `minutes` (0 resumes); without a number, ask how long. */
  async snooze(minutes?: number): Promise<void> {
    if (typeof minutes !== "number") {
      const picked = await vscode.window.showQuickPick(
        SNOOZE_MINUTES.map((m) => ({ label: `${m} minutes`, minutes: m })),
        { placeHolder: "Snooze suggestions for" },
      );
      if (picked === undefined) {
        return;
      }
      minutes = picked.minutes;
    }
    clearTimeout(this.snoozeTimer);
    if (minutes <= 0) {
      await this.setState({ off: this.state.off });
      return;
    }
    const ms = minutes * 60_000;
    this.snoozeTimer = setTimeout(() => this.changed.fire(), ms);
    await this.setState({ off: this.state.off, snoozedUntil: Date.now() + ms });
  }

  /** Switch the active editor's language (or `languageId`) in the user's refact.enable. */
  async toggleLanguage(languageId?: string): Promise<void> {
    const id = languageId ?? vscode.window.activeTextEditor?.document.languageId;
    if (id === undefined) {
      return;
    }
    const section = vscode.workspace.getConfiguration("refact");
    const on = languageEnabled(enableSetting(), id);
    const user = section.inspect("enable")?.globalValue ?? section.inspect("enable")?.defaultValue;
    await section.update("enable", withLanguage(user, id, !on), vscode.ConfigurationTarget.Global);
    if (on) {
      await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    }
  }

  private async showMenu(): Promise<void> {
    const languageId = vscode.window.activeTextEditor?.document.languageId;
    const picked = await vscode.window.showQuickPick(menuEntries(this.state, enableSetting(), languageId, Date.now()), {
      placeHolder: "Refact",
    });
    if (picked !== undefined) {
      await vscode.commands.executeCommand(picked.command, ...(picked.args ?? []));
    }
  }

  /** `refact/stats` from the server: shown in a message and the log, and returned. */
  async showStats(): Promise<Record<string, unknown> | undefined> {
    const client = this.client();
    if (client === undefined || !client.isRunning()) {
      void vscode.window.showWarningMessage("refact-lsp is not running.");
      return undefined;
    }
    const stats: Record<string, unknown> = await client.sendRequest("refact/stats", {});
    this.log.info(`refact/stats: ${JSON.stringify(stats)}`);
    const acceptance = stats.acceptance as Record<string, number> | undefined;
    void vscode.window.showInformationMessage(
      acceptance === undefined
        ? "This refact-lsp does not count accepted suggestions; see the log for its stats."
        : `Suggestions shown ${acceptance.shown}, accepted ${acceptance.accepted}, ` +
          `partly accepted ${acceptance.partiallyAccepted} (${acceptance.acceptedChars} characters). ` +
          "Counted on this machine only.",
    );
    return stats;
  }

  /** Run VS Code's own accept-part command, then tell the server how much was taken. */
  private async acceptPart(command: Command.AcceptNextWord | Command.AcceptNextLine): Promise<void> {
    const document = vscode.window.activeTextEditor?.document;
    const edit = document === undefined ? undefined : nextEdit(document, EDIT_WAIT_MS);
    await vscode.commands.executeCommand(BUILTIN_ACCEPT[command]);
    const change = await edit;
    if (document === undefined || change === undefined) {
      return;
    }
    const end = document.positionAt(document.offsetAt(change.range.start) + change.text.length);
    const accepted = this.shown.partialAccept(document.uri.toString(), (line, character) => {
      const start = new vscode.Position(line, character);
      return start.isAfter(end) ? undefined : document.getText(new vscode.Range(start, end));
    });
    if (accepted !== undefined) {
      await this.reportPartial(accepted);
    }
  }

  private async reportPartial(accepted: PartialAccept): Promise<void> {
    const client = this.client();
    const commands = client?.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    if (client === undefined || !client.isRunning() || !commands.includes(ServerCommand.PartiallyAccepted)) {
      return;
    }
    try {
      await client.sendRequest(ExecuteCommandRequest.type, {
        command: ServerCommand.PartiallyAccepted,
        arguments: [accepted],
      });
    } catch (error) {
      this.log.warn(`could not report a partial accept: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
