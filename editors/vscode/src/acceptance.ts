// Which suggestion a partial accept (a word, a line) took text from, and how much of it
// is in the document now. VS Code's stable API reports only whole accepts (it runs the
// item's command, `refact-lsp.accepted`); partial accepts reach extensions only through
// a proposed API. So refact.acceptNextWord / acceptNextLine run VS Code's own command
// and then measure here, as Tabby's extension does. Kept free of `vscode` for tests.

/** The server's commands (its executeCommandProvider). */
export enum ServerCommand {
  Accepted = "refact-lsp.accepted",
  PartiallyAccepted = "refact-lsp.partiallyAccepted",
}

/** A suggestion as shown: where its text starts, and its id for the server. */
export interface ShownItem {
  id: string;
  uri: string;
  line: number;
  character: number;
  insertText: string;
}

/** The shape of a `vscode.InlineCompletionItem` that this module reads. */
export interface InlineItem {
  insertText: unknown;
  range?: { start: { line: number; character: number } };
  command?: { command: string; arguments?: unknown[] };
}

export interface PartialAccept {
  id: string;
  /** Characters (code points, as the server counts its insertText), not UTF-16 units. */
  acceptedLength: number;
}

// Lists of items to remember: a partial accept changes the document, and VS Code may
// ask again (and show the new answer) before the next word is accepted.
const KEPT_LISTS = 4;

/** The server's suggestion id in an item's accept command, with the item's text. */
export function shownItem(
  uri: string,
  item: InlineItem,
  position: { line: number; character: number },
): ShownItem | undefined {
  const argument = item.command?.command === ServerCommand.Accepted ? item.command.arguments?.[0] : undefined;
  const id = typeof argument === "object" && argument !== null ? (argument as { id?: unknown }).id : undefined;
  if (typeof id !== "string" || typeof item.insertText !== "string") {
    return undefined; // not from a server that counts acceptance, or a snippet
  }
  const start = item.range?.start ?? position;
  return { id, uri, line: start.line, character: start.character, insertText: item.insertText };
}

export class ShownSuggestions {
  private lists: ShownItem[][] = []; // newest first, each best first
  private reported = new Map<string, number>(); // id -> the acceptedLength last sent

  remember(items: ShownItem[]): void {
    if (items.length === 0) {
      return;
    }
    this.lists = [items, ...this.lists].slice(0, KEPT_LISTS);
    const kept = new Set(this.lists.flat().map((item) => item.id));
    for (const id of this.reported.keys()) {
      if (!kept.has(id)) {
        this.reported.delete(id);
      }
    }
  }

  /**
   * The newest shown item whose text starts with what the document now holds from the
   * item's start to the end of the accepted part. `textTo(line, character)` gives that
   * text, or undefined where the place lies after the accepted part. Undefined when no
   * item matches or nothing new was accepted.
   */
  partialAccept(uri: string, textTo: (line: number, character: number) => string | undefined): PartialAccept | undefined {
    for (const item of this.lists.flat()) {
      if (item.uri !== uri) {
        continue;
      }
      const text = textTo(item.line, item.character)?.replace(/\r\n/g, "\n");
      if (!text || !item.insertText.startsWith(text)) {
        continue;
      }
      const acceptedLength = [...text].length;
      if ((this.reported.get(item.id) ?? 0) >= acceptedLength) {
        return undefined;
      }
      this.reported.set(item.id, acceptedLength);
      return { id: item.id, acceptedLength };
    }
    return undefined;
  }
}
