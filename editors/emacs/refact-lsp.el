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

;;; Code:

(require 'seq)

;; Defined by eglot and lsp-mode, which are loaded only when set up.
(defvar eglot-server-programs)
(defvar lsp-inline-completion-enable)
(defvar lsp-inline-completion-inhibit-predicates)
(declare-function eglot-managed-p "ext:eglot")
(declare-function eglot-completion-at-point "ext:eglot")
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

(provide 'refact-lsp)
;;; refact-lsp.el ends here
