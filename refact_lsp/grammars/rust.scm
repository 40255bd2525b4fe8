; module: tree_sitter_rust
; function: language
; language-ids: rust
; extensions: .rs
; line-comment: //

(function_item name: (identifier) @name) @definition
(function_signature_item name: (identifier) @name) @definition
(struct_item name: (type_identifier) @name) @definition
(enum_item name: (type_identifier) @name) @definition
(union_item name: (type_identifier) @name) @definition
(trait_item name: (type_identifier) @name) @definition
(type_item name: (type_identifier) @name) @definition
(mod_item name: (identifier) @name) @definition
(macro_definition name: (identifier) @name) @definition
(const_item name: (identifier) @name) @definition
(static_item name: (identifier) @name) @definition
(impl_item) @definition

[
  (block)
  (declaration_list)
  (field_declaration_list)
] @block

[
  (function_item)
  (function_signature_item)
  (struct_item)
  (enum_item)
  (union_item)
  (trait_item)
  (type_item)
  (mod_item)
  (impl_item)
  (macro_definition)
  (const_item)
  (static_item)
  (use_declaration)
  (extern_crate_declaration)
  (foreign_mod_item)
  (attribute_item)
  (inner_attribute_item)
  (let_declaration)
  (expression_statement)
  (field_declaration)
] @statement

[
  (use_declaration)
  (extern_crate_declaration)
] @import

[
  (line_comment)
  (block_comment)
] @comment

[
  (string_literal)
  (raw_string_literal)
] @string

(arguments) @arguments
