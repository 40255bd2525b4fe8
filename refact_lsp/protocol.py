"""JSON-RPC as pygls reads it, changed so that every request gets an answer and no edit
is lost (`RefactProtocol`)."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCRequest

log = logging.getLogger(__name__)

MAX_UINTEGER = 2**31 - 1  # LSP's largest line or character number


class RefactProtocol(LanguageServerProtocol):
    """pygls's protocol, changed so that every request gets an answer.

    A request whose params fail to parse gets InvalidParams, JSON that is not a JSON-RPC
    2.0 message gets InvalidRequest, and so do a request after `shutdown`, one whose id
    is neither a number nor a string and one for a notification's method; a request
    before `initialize` gets ServerNotInitialized (pygls would leave them unanswered, or
    fail on them, and the editor would wait forever). A
    didChange with negative positions is clamped like any other out-of-range position
    rather than dropped (a dropped edit leaves the server's text wrong for good). A
    cancel for a request already answered is ignored quietly. And pygls's own copy of
    every open document is not kept: the server's `documents` is the one copy.
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "method" in data and not isinstance(data["method"], str):
            error = JsonRpcInvalidRequest("the method must be a string")
            if "id" in data:
                self._send_response(request_id(data), error=error.to_response_error())
            raise error
        if "jsonrpc" in data and "method" in data:
            data.setdefault("params", None)  # optional in JSON-RPC; pygls's types need it
            if data["method"] == types.TEXT_DOCUMENT_DID_CHANGE:
                _clamp_change_positions(data["params"])
        try:
            message = super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                self._send_response(request_id(data), error=exc.to_response_error())
            raise
        if "jsonrpc" in data and "id" in data and "method" in data \
                and not hasattr(message, "id"):  # pygls would take it as the notification
            error = JsonRpcInvalidRequest(f"{data['method']} is a notification: it takes no id")
            self._send_response(request_id(data), error=error.to_response_error())
            raise error
        return message

    def handle_message(self, message: Any) -> None:
        if getattr(message, "jsonrpc", None) != self.VERSION:
            log.warning("not a JSON-RPC 2.0 message: %s", type(message).__name__)
            self.send_error(request_id(message), types.ErrorCodes.InvalidRequest,
                            "Invalid request: not a JSON-RPC 2.0 message")
            return
        if isinstance(message, RPCRequest) and request_id(message) is None:
            self.send_error(None, types.ErrorCodes.InvalidRequest,
                            "Invalid request: an id must be a number or a string")
            return
        if self._shutdown and isinstance(message, RPCRequest):
            self.send_error(message.id, types.ErrorCodes.InvalidRequest,
                            "Invalid request: the server is shut down")
            return
        method = getattr(message, "method", None)
        if self._workspace is None and method not in (None, types.INITIALIZE, types.EXIT):
            # Before initialize, as LSP says: requests get an error, notifications are
            # dropped (run now, they would fail, and a completion would wait for ever).
            if isinstance(message, RPCRequest):
                self.send_error(message.id, types.ErrorCodes.ServerNotInitialized,
                                "Server not initialized: send initialize first")
            else:
                log.warning("dropped %s: it came before initialize", method)
            return
        super().handle_message(message)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        """A cancel that comes after the answer is the usual race of typing, not worth
        a warning a keystroke (pygls warns)."""
        if isinstance(msg_id, (int, str)) and msg_id in self._request_futures:
            super()._handle_cancel_notification(msg_id)

    def send_error(self, msg_id: int | str | None, code: int, message: str) -> None:
        """A JSON-RPC error answer. An unknown id goes out as null, as JSON-RPC asks
        (lsprotocol's ResponseErrorMessage would leave the id out)."""
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id,
                         "error": {"code": int(code), "message": message}})

    def answer_unreadable(self, reason: str) -> None:
        """Bytes that were not a message: JSON-RPC's parse error, with id null."""
        log.warning("unreadable message from the editor: %s", reason)
        self.send_error(None, types.ErrorCodes.ParseError, f"Parse error: {reason}")

    # Plain calls, not pygls's generator handlers: pygls keeps the future of a generator
    # handler run for a notification for good, one per keystroke.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self.fm.features[types.TEXT_DOCUMENT_DID_OPEN](params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams
                                      ) -> None:
        self.fm.features[types.TEXT_DOCUMENT_DID_CHANGE](params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self.fm.features[types.TEXT_DOCUMENT_DID_CLOSE](params)


def request_id(message: Any) -> int | str | None:
    """The id of what looks like a request (it has a method member, valid or not), for
    its error answer; None where there is none (a response has no method)."""
    if isinstance(message, dict):
        msg_id, is_request = message.get("id"), "method" in message
    else:
        msg_id, is_request = getattr(message, "id", None), hasattr(message, "method")
    if not is_request or isinstance(msg_id, bool) or not isinstance(msg_id, (int, str)):
        return None
    return msg_id


def _clamp_change_positions(params: Any) -> None:
    """Bring a didChange's positions into LSP's range, in place, as Document reads them:
    a line before the first is the start of the text, a character before the first the
    start of its line, and larger numbers than LSP allows the ends."""
    changes = params.get("contentChanges") if isinstance(params, dict) else None
    for change in changes if isinstance(changes, list) else ():
        edges = change.get("range") if isinstance(change, dict) else None
        for edge in edges.values() if isinstance(edges, dict) else ():
            if isinstance(edge, dict) and _is_int(edge.get("line")) \
                    and _is_int(edge.get("character")):
                if edge["line"] < 0:
                    edge["line"] = edge["character"] = 0
                edge["line"] = min(edge["line"], MAX_UINTEGER)
                edge["character"] = max(0, min(edge["character"], MAX_UINTEGER))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
