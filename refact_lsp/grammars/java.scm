; module: tree_sitter_java
; function: language
; language-ids: java
; extensions: .java
; line-comment: //

(class_declaration name: (identifier) @name) @definition
(interface_declaration name: (identifier) @name) @definition
(enum_declaration name: (identifier) @name) @definition
(record_declaration name: (identifier) @name) @definition
(annotation_type_declaration name: (identifier) @name) @definition
(method_declaration name: (identifier) @name) @definition
(constructor_declaration name: (identifier) @name) @definition

[
  (block)
  (class_body)
  (interface_body)
  (enum_body)
  (constructor_body)
  (annotation_type_body)
  (switch_block)
  (switch_block_statement_group)
] @block

[
  (package_declaration)
  (import_declaration)
  (class_declaration)
  (interface_declaration)
  (enum_declaration)
  (record_declaration)
  (annotation_type_declaration)
  (method_declaration)
  (constructor_declaration)
  (field_declaration)
  (constant_declaration)
  (static_initializer)
  (local_variable_declaration)
  (expression_statement)
  (if_statement)
  (for_statement)
  (enhanced_for_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (try_with_resources_statement)
  (synchronized_statement)
  (labeled_statement)
  (return_statement)
  (throw_statement)
  (break_statement)
  (continue_statement)
  (yield_statement)
  (assert_statement)
] @statement

[
  (package_declaration)
  (import_declaration)
] @import

[
  (line_comment)
  (block_comment)
] @comment

(string_literal) @string
(argument_list) @arguments
