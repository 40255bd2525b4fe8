; module: tree_sitter_go
; function: language
; language-ids: go
; extensions: .go
; line-comment: //

(function_declaration name: (identifier) @name) @definition
(method_declaration name: (field_identifier) @name) @definition
(type_declaration (type_spec name: (type_identifier) @name)) @definition

[
  (block)
  (field_declaration_list)
  (interface_type)
  (expression_case)
  (type_case)
  (communication_case)
  (default_case)
] @block

[
  (package_clause)
  (import_declaration)
  (function_declaration)
  (method_declaration)
  (type_declaration)
  (const_declaration)
  (var_declaration)
  (expression_statement)
  (assignment_statement)
  (short_var_declaration)
  (inc_statement)
  (dec_statement)
  (send_statement)
  (return_statement)
  (if_statement)
  (for_statement)
  (expression_switch_statement)
  (type_switch_statement)
  (select_statement)
  (go_statement)
  (defer_statement)
  (break_statement)
  (continue_statement)
  (goto_statement)
  (fallthrough_statement)
  (labeled_statement)
  (field_declaration)
] @statement

[
  (package_clause)
  (import_declaration)
] @import

(comment) @comment

[
  (interpreted_string_literal)
  (raw_string_literal)
] @string

(argument_list) @arguments
