; module: tree_sitter_typescript
; function: language_typescript
; language-ids: typescript
; extensions: .ts .mts .cts
; line-comment: //
; inherits: ecmascript

; The type level, on top of what JavaScript has.
(function_signature name: (identifier) @name) @definition
(abstract_class_declaration name: (type_identifier) @name) @definition
(interface_declaration name: (type_identifier) @name) @definition
(type_alias_declaration name: (type_identifier) @name) @definition
(enum_declaration name: (identifier) @name) @definition
(internal_module name: (_) @name) @definition

[
  (interface_body)
  (enum_body)
] @block

[
  (function_signature)
  (abstract_class_declaration)
  (interface_declaration)
  (type_alias_declaration)
  (enum_declaration)
  (ambient_declaration)
  (method_signature)
  (abstract_method_signature)
  (public_field_definition)
  (property_signature)
] @statement
