; module: tree_sitter_c
; function: language
; language-ids: c
; extensions: .c .h
; line-comment: //

(function_definition
  declarator: (function_declarator declarator: (identifier) @name)) @definition
(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator declarator: (identifier) @name))) @definition
(struct_specifier name: (type_identifier) @name body: (_)) @definition
(union_specifier name: (type_identifier) @name body: (_)) @definition
(enum_specifier name: (type_identifier) @name body: (_)) @definition
(type_definition declarator: (type_identifier) @name) @definition
(preproc_function_def name: (identifier) @name) @definition
(preproc_def name: (identifier) @name) @definition

[
  (compound_statement)
  (field_declaration_list)
  (declaration_list)
  (case_statement)
] @block

[
  (function_definition)
  (declaration)
  (type_definition)
  (field_declaration)
  (expression_statement)
  (if_statement)
  (for_statement)
  (while_statement)
  (do_statement)
  (switch_statement)
  (return_statement)
  (break_statement)
  (continue_statement)
  (goto_statement)
  (labeled_statement)
  (preproc_include)
  (preproc_def)
  (preproc_function_def)
  (preproc_call)
] @statement

(preproc_include) @import
(comment) @comment

[
  (string_literal)
  (char_literal)
  (system_lib_string)
] @string

(argument_list) @arguments
