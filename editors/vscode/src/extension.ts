// Starts refact-lsp over stdio for every language. vscode-languageclient 10 registers
// the LSP 3.18 inline completion provider itself and runs an accepted item's command;
// this file maps settings, restarts on server changes and keeps the status bar item,
// controls.ts holds the person's switches and ask.ts asks the model about code.

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  MessageType,
  ServerOptions,
  ShowMessageNotification,
  State,
} from "vscode-languageclient/node";
import { Asker } from "./ask";
import { Controls } from "./controls";
import { needsRestart, serverCommand, serverSettings } from "./settings";
import { ServerState, stateFromProgress, statusView } from "./status";
import { Command } from "./steering";

let client: LanguageClient | undefined;
let controls: Controls;
let asker: Asker;
let statusItem: vscode.StatusBarItem;
let outputChannel: vscode.LogOutputChannel;
let state: ServerState = "stopped";
let stateDetail: string | undefined;
// Set while we stop the server on purpose, so that its exit is not shown as an error.
let stopping = false;

function config(): (key: string) => unknown {
  const section = vscode.workspace.getConfiguration("refact");
  return (key) => section.get(key);
}

async function currentSettings(): Promise<Record<string, unknown>> {
  return serverSettings(config(), await vscode.languages.getLanguages());
}

function setState(next: ServerState, detail?: string): void {
  state = next;
  stateDetail = detail;
  showStatus();
}

/** The status bar item for the server's state and whether the active editor is paused. */
function showStatus(): void {
  const pause = controls.pause(vscode.window.activeTextEditor?.document.languageId);
  const view = statusView(state, stateDetail, pause);
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
  statusItem.backgroundColor = view.isError
    ? new vscode.ThemeColor("statusBarItem.errorBackground")
    : undefined;
}

function showMessage(type: MessageType, message: string): void {
  if (type === MessageType.Error) {
    setState("error", message);
    void vscode.window.showErrorMessage(message);
  } else if (type === MessageType.Warning) {
    void vscode.window.showWarningMessage(message);
  } else {
    void vscode.window.showInformationMessage(message);
  }
}

async function startClient(): Promise<void> {
  const { command, args } = serverCommand(config());
  const serverOptions: ServerOptions = { command, args };
  const initializationOptions = await currentSettings();
  const clientOptions: LanguageClientOptions = {
    // Every language: the server itself skips those in disabledLanguages.
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions,
    outputChannel,
    middleware: {
      ...controls.middleware(),
      ...asker.middleware(),
      // Follow the server's "Loading model" progress, then let the default UI show it too.
      handleWorkDoneProgress: (token, params, next) => {
        const { state: nextState, detail } = stateFromProgress(
          state,
          params.kind,
          // begin carries a title ("Loading model ..."), report a message.
          params.kind === "begin" ? params.title : params.message,
          "percentage" in params ? params.percentage : undefined,
        );
        if (nextState !== state || nextState === "loading") {
          setState(nextState, detail);
        }
        next(token, params);
      },
    },
  };
  const next = new LanguageClient("refact", "Refact LSP", serverOptions, clientOptions);
  // Replaces the default handler so that an error also turns the status bar red.
  next.onNotification(ShowMessageNotification.type, (params) => showMessage(params.type, params.message));
  // Also covers the client's own restarts after a server crash.
  next.onDidChangeState((event) => {
    if (event.newState === State.Starting) {
      setState("starting");
    } else if (event.newState === State.Running && state === "starting") {
      setState("ready"); // until the server reports a model load with $/progress
    } else if (event.newState === State.Stopped && !stopping) {
      setState("stopped");
    }
  });
  client = next;
  setState("starting");
  try {
    await next.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    setState("error", `could not start ${command}: ${reason}`);
    const choice = await vscode.window.showErrorMessage(
      `Could not start refact-lsp (${command}): install it, or set refact.serverPath to it.`,
      "Open Settings",
    );
    if (choice === "Open Settings") {
      void vscode.commands.executeCommand("workbench.action.openSettings", "refact.serverPath");
    }
  }
}

async function stopClient(): Promise<void> {
  if (client === undefined) {
    return;
  }
  stopping = true;
  try {
    await client.stop();
  } catch {
    // A server that never started cannot be stopped; nothing is left to clean up.
  } finally {
    client = undefined;
    stopping = false;
  }
}

async function restartClient(): Promise<void> {
  await stopClient();
  await startClient();
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration("refact")) {
    return;
  }
  // A server that failed to start gets a new try with the new settings.
  const stopped = client === undefined || client.state === State.Stopped;
  showStatus(); // refact.enable may pause the active editor's language
  if (needsRestart((section) => event.affectsConfiguration(section), config()) || stopped) {
    await restartClient();
    return;
  }
  await sendSettings();
}

async function sendSettings(): Promise<void> {
  if (client?.isRunning()) {
    // The whole mapped state each time: the server applies it over what it had.
    await client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { refact: await currentSettings() },
    });
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  outputChannel = vscode.window.createOutputChannel("Refact LSP", { log: true });
  controls = new Controls(context.globalState, () => client, outputChannel);
  asker = new Asker(() => client);
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = Command.ShowMenu;
  statusItem.show();
  context.subscriptions.push(
    outputChannel,
    statusItem,
    ...controls.register(),
    ...asker.register(),
    controls.onDidChange(showStatus),
    vscode.window.onDidChangeActiveTextEditor(showStatus),
    vscode.commands.registerCommand(Command.ShowLog, () => outputChannel.show(true)),
    vscode.commands.registerCommand(Command.Restart, restartClient),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChanged),
    // Settings kept from an untrusted workspace (restrictedConfigurations) apply now.
    vscode.workspace.onDidGrantWorkspaceTrust(sendSettings),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
