; module: tree_sitter_python
; function: language
; language-ids: python
; extensions: .py .pyi .pyw
; line-comment: #

(function_definition name: (identifier) @name) @definition
(class_definition name: (identifier) @name) @definition
(decorated_definition) @definition
(module (expression_statement (assignment left: (identifier) @name) @constant))

(block) @block

[
  (expression_statement)
  (return_statement)
  (pass_statement)
  (break_statement)
  (continue_statement)
  (raise_statement)
  (assert_statement)
  (delete_statement)
  (global_statement)
  (nonlocal_statement)
  (print_statement)
  (exec_statement)
  (type_alias_statement)
  (if_statement)
  (for_statement)
  (while_statement)
  (try_statement)
  (with_statement)
  (match_statement)
  (import_statement)
  (import_from_statement)
  (future_import_statement)
  (function_definition)
  (class_definition)
  (decorated_definition)
] @statement

[
  (import_statement)
  (import_from_statement)
  (future_import_statement)
] @import

(comment) @comment
(string) @string
(argument_list) @arguments
