; What JavaScript and TypeScript share (javascript.scm and typescript.scm inherit it).
; Not a language of its own: no module.

(function_declaration name: (identifier) @name) @definition
(generator_function_declaration name: (identifier) @name) @definition
(class_declaration name: (_) @name) @definition
(method_definition name: (property_identifier) @name) @definition
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression)])) @definition
(program (lexical_declaration (variable_declarator name: (identifier) @name)) @constant)
(program (export_statement (lexical_declaration
  (variable_declarator name: (identifier) @name)) @constant))

[
  (statement_block)
  (class_body)
  (switch_body)
  (switch_case)
  (switch_default)
] @block

[
  (expression_statement)
  (lexical_declaration)
  (variable_declaration)
  (function_declaration)
  (generator_function_declaration)
  (class_declaration)
  (method_definition)
  (class_static_block)
  (if_statement)
  (for_statement)
  (for_in_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (switch_statement)
  (with_statement)
  (labeled_statement)
  (return_statement)
  (throw_statement)
  (break_statement)
  (continue_statement)
  (debugger_statement)
  (import_statement)
  (export_statement)
] @statement

(import_statement) @import

[
  (comment)
  (html_comment)
] @comment

[
  (string)
  (template_string)
] @string

(arguments) @arguments
