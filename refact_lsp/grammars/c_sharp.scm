; module: tree_sitter_c_sharp
; function: language
; language-ids: csharp
; extensions: .cs .csx
; line-comment: //

(class_declaration name: (identifier) @name) @definition
(struct_declaration name: (identifier) @name) @definition
(interface_declaration name: (identifier) @name) @definition
(enum_declaration name: (identifier) @name) @definition
(record_declaration name: (identifier) @name) @definition
(method_declaration name: (identifier) @name) @definition
(constructor_declaration name: (identifier) @name) @definition
(property_declaration name: (identifier) @name) @definition
(local_function_statement name: (identifier) @name) @definition
(namespace_declaration name: (_) @name) @definition

[
  (block)
  (declaration_list)
  (switch_body)
  (accessor_list)
  (switch_section)
] @block

[
  (using_directive)
  (namespace_declaration)
  (file_scoped_namespace_declaration)
  (class_declaration)
  (struct_declaration)
  (interface_declaration)
  (enum_declaration)
  (record_declaration)
  (delegate_declaration)
  (method_declaration)
  (constructor_declaration)
  (destructor_declaration)
  (operator_declaration)
  (property_declaration)
  (indexer_declaration)
  (event_declaration)
  (event_field_declaration)
  (field_declaration)
  (global_statement)
  (local_declaration_statement)
  (local_function_statement)
  (expression_statement)
  (if_statement)
  (for_statement)
  (foreach_statement)
  (while_statement)
  (do_statement)
  (switch_statement)
  (try_statement)
  (using_statement)
  (lock_statement)
  (checked_statement)
  (unsafe_statement)
  (fixed_statement)
  (labeled_statement)
  (return_statement)
  (throw_statement)
  (break_statement)
  (continue_statement)
  (goto_statement)
  (yield_statement)
] @statement

[
  (using_directive)
  (file_scoped_namespace_declaration)
] @import

(comment) @comment

[
  (string_literal)
  (verbatim_string_literal)
  (raw_string_literal)
  (interpolated_string_expression)
] @string

(argument_list) @arguments
