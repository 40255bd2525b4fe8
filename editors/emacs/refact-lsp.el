;;; refact-lsp.el --- Local code completion from refact-lsp for eglot and lsp-mode -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: languages, tools
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
;; lsp-mode (ghost text with `lsp-inline-completion-mode', lsp-mode 9.0.1 or newer):
;;
;;   (require 'refact-lsp)
;;   (refact-lsp-lsp-mode-setup)
;;   (add-hook 'python-mode-hook #'lsp-deferred)
;;
;; In the ghost text overlay RET accepts, TAB shows the next one; to accept with TAB:
;;   (with-eval-after-load 'lsp-inline-completion
;;     (define-key lsp-inline-completion-active-map (kbd "<tab>") #'lsp-inline-completion-accept))

;;; Code:

;; Defined by eglot and lsp-mode, which are loaded only when set up.
(defvar eglot-server-programs)
(defvar lsp-inline-completion-enable)
(declare-function lsp-register-client "ext:lsp-mode")
(declare-function make-lsp-client "ext:lsp-mode")
(declare-function lsp-stdio-connection "ext:lsp-mode")
(declare-function lsp-activate-on "ext:lsp-mode")
(declare-function lsp-inline-completion-mode "ext:lsp-inline-completion")
(declare-function lsp-feature? "ext:lsp-mode")

(defgroup refact-lsp nil
  "Local fill-in-the-middle code completion from refact-lsp."
  :group 'tools
  :prefix "refact-lsp-")

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
                         #'refact-lsp--eglot-contact)))))

(defun refact-lsp--enable-inline-completion ()
  "Turn on ghost text in buffers where a server offers inline completion."
  (when (and (fboundp 'lsp-inline-completion-mode)
             (or (not (boundp 'lsp-inline-completion-enable)) lsp-inline-completion-enable)
             (fboundp 'lsp-feature?)
             (lsp-feature? "textDocument/inlineCompletion"))
    (lsp-inline-completion-mode 1)))

;;;###autoload
(defun refact-lsp-lsp-mode-setup ()
  "Register refact-lsp with lsp-mode as an add-on next to each language's server."
  (require 'lsp-mode)
  (lsp-register-client
   (make-lsp-client
    :new-connection (lsp-stdio-connection (lambda () refact-lsp-command))
    :activation-fn (apply #'lsp-activate-on (mapcar #'car refact-lsp-languages))
    :add-on? t
    :priority -2
    :server-id 'refact-lsp
    :initialization-options #'refact-lsp--initialization-options))
  ;; Recent lsp-mode turns ghost text on by itself; this also covers those that do not.
  (add-hook 'lsp-configure-hook #'refact-lsp--enable-inline-completion))

(provide 'refact-lsp)
;;; refact-lsp.el ends here
