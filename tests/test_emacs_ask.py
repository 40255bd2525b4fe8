"""Emacs's refact-lsp-ask and code actions (editors/emacs/refact-lsp.el) with eglot, in
batch mode, against the real server on a fake OpenAI-style engine whose chat answer is
known: the answer streams into the *refact-lsp answer* buffer, and "Write a docstring"
run the way eglot runs a code action changes the function in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.ask import ANSWER, answering_engine, project_file
from tests.support.fake_openai import FakeEngine
from tests.test_editors import refact_lsp_executable, run_editor

pytestmark = pytest.mark.model  # starts the server and an editor (conftest.py)


DRIVE = r""";; -*- lexical-binding: t; -*-
(require 'json)
(defun refact-test-finish (result)
  (with-temp-file (getenv "REFACT_OUT") (insert (json-encode result)))
  (kill-emacs 0))
(defun refact-test-wait (check)
  (let ((deadline (+ (float-time) 60)) value)
    (while (and (not (setq value (funcall check))) (< (float-time) deadline))
      (accept-process-output nil 0.1))
    (or value (error "timed out"))))
(condition-case err
    (progn
      (add-to-list 'load-path (getenv "REFACT_EMACS_DIR"))
      (require 'refact-lsp)
      (setq refact-lsp-command (list (getenv "REFACT_SERVER")))
      (setq refact-lsp-initialization-options
            `(:engine (:kind "openai" :url ,(getenv "REFACT_ENGINE_URL"))))
      (refact-lsp-eglot-setup)
      (add-hook 'python-mode-hook #'eglot-ensure)
      ;; Wait for the server to start however busy the machine (eglot waits 3 s).
      (setq eglot-connect-timeout 120 eglot-sync-connect 120
            eglot-confirm-server-initiated-edits nil)
      (find-file (getenv "REFACT_FILE"))
      (run-hooks 'post-command-hook)
      (unless (eglot-current-server) (error "eglot did not connect"))
      (goto-char (point-min))
      (forward-line 2)
      (forward-char 9)
      (let* ((answers (refact-lsp-ask "What does it do?"))
             (reports 0))
        (with-current-buffer answers
          (add-hook 'after-change-functions (lambda (&rest _) (cl-incf reports)) nil t))
        (refact-test-wait (lambda () (buffer-local-value 'refact-lsp-answer answers)))
        (let* ((answer (buffer-local-value 'refact-lsp-answer answers))
               (shown (with-current-buffer answers (buffer-string)))
               (actions (eglot-code-actions (point) (point)))
               (docstring (seq-find (lambda (a) (equal (plist-get a :title)
                                                       "Refact: Write a docstring"))
                                    actions))
               (command (plist-get docstring :command)))
          (eglot-execute-command (eglot-current-server)
                                 (intern (plist-get command :command))
                                 (plist-get command :arguments))
          (refact-test-wait (lambda () (save-excursion
                                         (goto-char (point-min))
                                         (search-forward "\"\"\"The area" nil t))))
          (refact-test-finish
           `((answer . ,answer) (shown . ,shown) (reports . ,reports)
             (titles . ,(vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))
             (text . ,(buffer-substring-no-properties (point-min) (point-max))))))))
  (error (refact-test-finish `((error . ,(error-message-string err))))))
"""


engine = pytest.fixture(answering_engine, name="engine")


def test_emacs_asks_into_the_answer_buffer_and_applies_a_docstring(
        tmp_path: Path, engine: FakeEngine) -> None:
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (.ci/run installs it with editors/ci.sh)")
    source = project_file(tmp_path)
    script = tmp_path / "drive.el"
    script.write_text(DRIVE)
    env = {"REFACT_EMACS_DIR": str(Path(__file__).resolve().parent.parent / "editors"
                                   / "emacs"),
           "REFACT_SERVER": refact_lsp_executable(tmp_path), "REFACT_FILE": str(source),
           "REFACT_ENGINE_URL": engine.url}
    result = run_editor([emacs, "--batch", "-l", str(script)], cwd=source.parent,
                        out=tmp_path / "emacs.json", env=env)
    assert result["answer"] == ANSWER and result["shown"] == ANSWER
    assert result["reports"] >= 3  # streamed: the buffer changed as the answer grew
    assert result["titles"] == ["Refact: Explain this code", "Refact: Write a docstring",
                                "Refact: Add type hints", "Refact: Ask about this..."]
    assert result["text"] == ("class Shape:\n    def area(self, width, height):\n"
                              '        """The area."""\n        return width * height\n')
