; module: tree_sitter_typescript
; function: language_tsx
; language-ids: typescriptreact
; extensions: .tsx
; line-comment: //

(function_declaration name: (identifier) @name) @definition
(generator_function_declaration name: (identifier) @name) @definition
(function_signature name: (identifier) @name) @definition
(class_declaration name: (type_identifier) @name) @definition
(abstract_class_declaration name: (type_identifier) @name) @definition
(interface_declaration name: (type_identifier) @name) @definition
(type_alias_declaration name: (type_identifier) @name) @definition
(enum_declaration name: (identifier) @name) @definition
(internal_module name: (_) @name) @definition
(method_definition name: (property_identifier) @name) @definition
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression)])) @definition

[
  (statement_block)
  (class_body)
  (interface_body)
  (enum_body)
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
  (function_signature)
  (class_declaration)
  (abstract_class_declaration)
  (interface_declaration)
  (type_alias_declaration)
  (enum_declaration)
  (ambient_declaration)
  (method_definition)
  (method_signature)
  (abstract_method_signature)
  (public_field_definition)
  (property_signature)
  (class_static_block)
  (if_statement)
  (for_statement)
  (for_in_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (switch_statement)
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
