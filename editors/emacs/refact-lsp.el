;;; refact-lsp.el --- Local code completion from refact-lsp for eglot and lsp-mode -*- lexical-binding: t; -*-

;; Author: refact-lsp contributors <https://github.com/refact-lsp/refact-lsp/graphs/contributors>
;; URL: https://github.com/refact-lsp/refact-lsp
;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: languages, tools, convenience
;; SPDX-License-Identifier: BSD-3-Clause

;;; Commentary:

;; refact-lsp is a language server that completes code with a local model.
;;
;; eglot (completion-at-point, C-M-i or your completion UI):
;;
;;   (add-to-list 'load-path "/path/to/refact-lsp/editors/emacs")
;;   (require 'refact-lsp)
;;   (refact-lsp-eglot-setup)
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;
;; eglot runs one server per buffer, so refact-lsp takes the place of the usual
;; language server there; lsp-mode runs it next to the usual one.
;;
;; lsp-mode (ghost text with `lsp-inline-completion-mode', lsp-mode 10.0 or newer):
;;
;;   (require 'refact-lsp)
;;   (refact-lsp-lsp-mode-setup)
;;   (add-hook 'python-mode-hook #'lsp-deferred)
;;
;; lsp-mode's ghost text keys (`lsp-inline-completion-active-map'): C-<return> accepts,
;; C-n and C-p show the next and previous suggestion, C-g or <escape> dismisses;
;; M-x lsp-inline-completion-display asks for one now.  To accept with TAB:
;;   (with-eval-after-load 'lsp-inline-completion
;;     (define-key lsp-inline-completion-active-map (kbd "<tab>") #'lsp-inline-completion-accept))
;;
;; M-x refact-lsp-mode turns suggestions off and on in a buffer: while off, no
;; completion request goes to refact-lsp from it.
;;
;; With eglot, M-x refact-lsp-ask asks the model about the region (or the definition
;; at point); the answer streams into the *refact-lsp answer* buffer.  M-x
;; eglot-code-actions offers Explain this code, Write a docstring, Add type hints and
;; Ask about this...: answers to read go to the same buffer, docstrings and type
;; hints are applied to the code by the server.

;;; Code:

(require 'seq)
(require 'cl-lib)

;; Defined by eglot and lsp-mode, which are loaded only when set up.
(defvar eglot-server-programs)
(defvar lsp-inline-completion-enable)
(defvar lsp-inline-completion-inhibit-predicates)
(declare-function eglot-managed-p "ext:eglot")
(declare-function eglot-completion-at-point "ext:eglot")
(declare-function eglot-current-server "ext:eglot")
(declare-function eglot--pos-to-lsp-position "ext:eglot")
(declare-function eglot--TextDocumentIdentifier "ext:eglot")
(declare-function jsonrpc-async-request "ext:jsonrpc")
(declare-function jsonrpc-notify "ext:jsonrpc")
(declare-function lsp-disable-method-for-server "ext:lsp-mode")
(declare-function lsp-register-client "ext:lsp-mode")
(declare-function make-lsp-client "ext:lsp-mode")
(declare-function lsp-stdio-connection "ext:lsp-mode")
(declare-function lsp-activate-on "ext:lsp-mode")
(declare-function lsp-inline-completion-mode "ext:lsp-inline-completion")
(declare-function lsp-feature? "ext:lsp-mode")

(defgroup refact-lsp nil
  "Local fill-in-the-middle code completion from refact-lsp."
  :group 'tools
  :group 'lsp-mode
  :prefix "refact-lsp-"
  :link '(url-link "https://github.com/refact-lsp/refact-lsp"))

(defcustom refact-lsp-command '("refact-lsp")
  "The command that starts the server, as a list: program and arguments.
For example (\"~/.venv/bin/refact-lsp\" \"--model\" \"qwen2.5-coder-0.5b\")."
  :type '(repeat string))

(defcustom refact-lsp-initialization-options nil
  "Server settings sent as initializationOptions: a plist with camelCase keys.
For example (:model \"qwen2.5-coder-0.5b\" :maxTokens 64
             :engine (:kind \"llama-server\" :url \"http://127.0.0.1:8080\"))."
  :type 'plist)

(defcustom refact-lsp-languages
  '(("python" python-mode python-ts-mode)
    ("javascript" js-mode js-ts-mode)
    ("javascriptreact" js-jsx-mode)
    ("typescript" typescript-mode typescript-ts-mode)
    ("typescriptreact" tsx-ts-mode)
    ("go" go-mode go-ts-mode)
    ("rust" rust-mode rust-ts-mode)
    ("java" java-mode java-ts-mode)
    ("c" c-mode c-ts-mode)
    ("cpp" c++-mode c++-ts-mode)
    ("csharp" csharp-mode csharp-ts-mode)
    ("ruby" ruby-mode ruby-ts-mode)
    ("php" php-mode)
    ("shellscript" sh-mode bash-ts-mode)
    ("lua" lua-mode lua-ts-mode))
  "LSP language ids and the major modes that hold them."
  :type '(alist :key-type string :value-type (repeat symbol)))

(defun refact-lsp--served-p ()
  "Non-nil where this buffer's major mode is one refact-lsp is set up for."
  (seq-some (lambda (language) (memq major-mode (cdr language))) refact-lsp-languages))

;;;###autoload
(define-minor-mode refact-lsp-mode
  "Suggestions from refact-lsp in this buffer.
The setup functions turn it on where refact-lsp serves a buffer.  Turned
off, the buffer asks refact-lsp for no completion at all (eglot: its
`completion-at-point' source is removed here; lsp-mode: ghost text is
inhibited here); turned on, it asks again."
  :lighter " Refact"
  :group 'refact-lsp
  (refact-lsp--apply-to-eglot))

(defun refact-lsp--apply-to-eglot ()
  "Add or remove eglot's completion source here, as `refact-lsp-mode' says."
  (when (and (fboundp 'eglot-managed-p) (eglot-managed-p))
    (if refact-lsp-mode
        (add-hook 'completion-at-point-functions #'eglot-completion-at-point nil t)
      (remove-hook 'completion-at-point-functions #'eglot-completion-at-point t))))

(defun refact-lsp--on-attach ()
  "Turn `refact-lsp-mode' on in a newly served buffer, or keep it off there.
A buffer where it was turned off keeps it off when the server reconnects."
  (when (refact-lsp--served-p)
    (if (local-variable-p 'refact-lsp-mode)
        (refact-lsp--apply-to-eglot)
      (refact-lsp-mode 1))))

(defun refact-lsp--off-p ()
  "Non-nil in a buffer where `refact-lsp-mode' was turned off."
  (and (local-variable-p 'refact-lsp-mode) (not refact-lsp-mode)))

(defun refact-lsp--initialization-options (&rest _)
  "The initializationOptions object: an empty JSON object when none are set."
  (or refact-lsp-initialization-options (make-hash-table)))

(defun refact-lsp--eglot-contact (&rest _)
  "The eglot contact, read when a server starts so that later settings count."
  (append refact-lsp-command
          (list :initializationOptions #'refact-lsp--initialization-options)))

;;;###autoload
(defun refact-lsp-eglot-setup ()
  "Make eglot use refact-lsp for the modes in `refact-lsp-languages'.
One entry per language, so that each buffer gets its own language id; eglot
then starts one server per language and project."
  (require 'eglot)
  (dolist (language (reverse refact-lsp-languages))
    (let ((id (car language)))
      (add-to-list 'eglot-server-programs
                   (cons (mapcar (lambda (mode) (list mode :language-id id)) (cdr language))
                         #'refact-lsp--eglot-contact))))
  (add-hook 'eglot-managed-mode-hook #'refact-lsp--on-attach))

(defun refact-lsp--enable-inline-completion ()
  "Turn on ghost text in buffers where a server offers inline completion."
  (when (and (fboundp 'lsp-inline-completion-mode)
             (or (not (boundp 'lsp-inline-completion-enable)) lsp-inline-completion-enable)
             (fboundp 'lsp-feature?)
             (lsp-feature? "textDocument/inlineCompletion"))
    (lsp-inline-completion-mode 1))
  (refact-lsp--on-attach))

;;;###autoload
(defun refact-lsp-lsp-mode-setup ()
  "Register refact-lsp with lsp-mode as an add-on next to each language's server.
With lsp-mode's ghost text (10.0 and newer) refact-lsp answers only there:
its items in the completion menu would repeat the ghost text, and
`refact-lsp-mode' turned off inhibits the ghost text, so no request is made."
  (require 'lsp-mode)
  (lsp-register-client
   (make-lsp-client
    :new-connection (lsp-stdio-connection (lambda () refact-lsp-command))
    :activation-fn (apply #'lsp-activate-on (mapcar #'car refact-lsp-languages))
    :add-on? t
    :priority -2
    :server-id 'refact-lsp
    :initialization-options #'refact-lsp--initialization-options))
  (when (require 'lsp-inline-completion nil t)
    (lsp-disable-method-for-server "textDocument/completion" 'refact-lsp)
    (add-to-list 'lsp-inline-completion-inhibit-predicates #'refact-lsp--off-p))
  ;; Recent lsp-mode turns ghost text on by itself; this also covers those that do not.
  (add-hook 'lsp-configure-hook #'refact-lsp--enable-inline-completion))

;;; Asking the model about code (eglot)

(defcustom refact-lsp-ask-timeout 600
  "Seconds to wait for a whole answer from the model."
  :type 'integer
  :group 'refact-lsp)

(defvar refact-lsp--listeners (make-hash-table :test #'equal)
  "workDoneToken -> function of the answer so far, for the answers streaming now.")
(defvar refact-lsp--asked 0)
(defvar-local refact-lsp-answer nil
  "In an answer buffer: the whole answer, once it has come.")

(defun refact-lsp--answer-buffer (title)
  "The answer buffer, shown, saying that TITLE waits for its answer."
  (let ((buffer (get-buffer-create "*refact-lsp answer*")))
    (with-current-buffer buffer
      (setq refact-lsp-answer nil)
      (refact-lsp--show buffer (format "(%s: waiting for the answer)" title)))
    (display-buffer buffer)
    buffer))

(defun refact-lsp--show (buffer text)
  "Show TEXT, the answer so far, in BUFFER."
  (when (buffer-live-p buffer)
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert text)))))

(defun refact-lsp--request (server method params buffer on-answer)
  "Send METHOD with PARAMS to SERVER, its answer streamed into BUFFER (nil: none).
ON-ANSWER gets the result; an error is shown in BUFFER and as a message."
  (let ((token (format "refact-lsp-ask-%d" (cl-incf refact-lsp--asked))))
    (when buffer
      (puthash token (lambda (text) (refact-lsp--show buffer text)) refact-lsp--listeners))
    (jsonrpc-async-request
     server method (append params (list :workDoneToken token))
     :success-fn (lambda (result)
                   (remhash token refact-lsp--listeners)
                   (funcall on-answer result))
     :error-fn (lambda (error)
                 (remhash token refact-lsp--listeners)
                 (let ((text (format "refact-lsp: %s" (plist-get error :message))))
                   (when buffer (refact-lsp--show buffer text))
                   (message "%s" text)))
     :timeout refact-lsp-ask-timeout
     :timeout-fn (lambda () (remhash token refact-lsp--listeners)))))

(defun refact-lsp--finish (buffer text)
  "TEXT is the whole answer in BUFFER."
  (refact-lsp--show buffer text)
  (when (buffer-live-p buffer)
    (with-current-buffer buffer (setq refact-lsp-answer text))))

(defun refact-lsp--progress (token value)
  "Stream a report VALUE on TOKEN into its answer's buffer, if it is one of ours."
  (let ((listener (gethash token refact-lsp--listeners)))
    (when (and listener (equal (plist-get value :kind) "report")
               (stringp (plist-get value :message)))
      (funcall listener (plist-get value :message)))))

;;;###autoload
(defun refact-lsp-ask (question &optional beg end)
  "Ask the model QUESTION about the region BEG..END, or the definition at point.
The answer streams into the *refact-lsp answer* buffer, which is returned."
  (interactive (list (read-string "Ask refact-lsp: ")
                     (and (use-region-p) (region-beginning))
                     (and (use-region-p) (region-end))))
  (let* ((server (or (eglot-current-server) (user-error "No eglot server here")))
         (start (eglot--pos-to-lsp-position (or beg (point))))
         (stop (eglot--pos-to-lsp-position (or end (point))))
         (buffer (refact-lsp--answer-buffer "answer")))
    (refact-lsp--request
     server :refact/chat
     (list :messages (vector (list :role "user" :content question))
           :textDocument (eglot--TextDocumentIdentifier)
           :range (list :start start :end stop))
     buffer (lambda (result) (refact-lsp--finish buffer (plist-get result :text))))
    buffer))

(defun refact-lsp--run-action (server arguments)
  "Run a refact-lsp code action with ARGUMENTS on SERVER: ask for the question
of Ask about this..., stream answers to read into the answer buffer; edits
are applied by the server."
  (let* ((argument (copy-sequence (aref arguments 0)))
         (action (plist-get argument :action))
         (edits (member action '("docstring" "typeHints")))
         (buffer (unless edits (refact-lsp--answer-buffer action))))
    (when (equal action "ask")
      (setq argument (plist-put argument :question (read-string "Ask refact-lsp: "))))
    (refact-lsp--request
     server :workspace/executeCommand
     (list :command "refact-lsp.codeAction" :arguments (vector argument))
     buffer (lambda (result)
              (cond (buffer (refact-lsp--finish buffer (plist-get result :text)))
                    ((eq (plist-get result :applied) :json-false)
                     (message "refact-lsp: not applied: %s" (plist-get result :reason))))))))

;; eglot's generics are defined when it loads (which drops methods made before).
(with-eval-after-load 'eglot
  (cl-defmethod eglot-handle-notification :before
    (_server (_method (eql $/progress)) &key token value &allow-other-keys)
    "Stream the reports of refact-lsp's answers into their buffers."
    (refact-lsp--progress token value))
  (cl-defmethod eglot-execute-command
    (server (_command (eql refact-lsp.codeAction)) arguments)
    "Run a refact-lsp code action (see `refact-lsp--run-action')."
    (refact-lsp--run-action server arguments)))

(provide 'refact-lsp)
;;; refact-lsp.el ends here
