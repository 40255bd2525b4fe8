; module: tree_sitter_php
; function: language_php
; language-ids: php
; extensions: .php .phtml
; line-comment: //

(function_definition name: (name) @name) @definition
(method_declaration name: (name) @name) @definition
(class_declaration name: (name) @name) @definition
(interface_declaration name: (name) @name) @definition
(trait_declaration name: (name) @name) @definition
(enum_declaration name: (name) @name) @definition

[
  (compound_statement)
  (declaration_list)
  (enum_declaration_list)
  (switch_block)
  (colon_block)
  (case_statement)
  (default_statement)
] @block

[
  (namespace_definition)
  (namespace_use_declaration)
  (function_definition)
  (class_declaration)
  (interface_declaration)
  (trait_declaration)
  (enum_declaration)
  (method_declaration)
  (property_declaration)
  (const_declaration)
  (use_declaration)
  (expression_statement)
  (echo_statement)
  (return_statement)
  (if_statement)
  (for_statement)
  (foreach_statement)
  (while_statement)
  (do_statement)
  (switch_statement)
  (try_statement)
  (break_statement)
  (continue_statement)
  (global_declaration)
  (function_static_declaration)
  (unset_statement)
  (declare_statement)
  (named_label_statement)
  (goto_statement)
] @statement

[
  (namespace_use_declaration)
  (expression_statement
    [(require_expression) (require_once_expression)
     (include_expression) (include_once_expression)])
] @import

((namespace_definition) @import
  (#not-match? @import "[{]"))

(comment) @comment

[
  (string)
  (encapsed_string)
  (heredoc)
  (nowdoc)
] @string

(arguments) @arguments
