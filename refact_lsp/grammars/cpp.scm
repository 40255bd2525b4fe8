; module: tree_sitter_cpp
; function: language
; language-ids: cpp c++
; extensions: .cpp .cc .cxx .c++ .hpp .hh .hxx .h++ .ipp
; line-comment: //
; inherits: c

; What C++ adds to C: methods and qualified names, references, classes, namespaces,
; templates, using, exceptions, coroutines, raw strings.
(function_definition
  declarator: (function_declarator
    declarator: [(field_identifier) (qualified_identifier)] @name)) @definition
(function_definition
  declarator: (reference_declarator
    (function_declarator
      declarator: [(identifier) (field_identifier) (qualified_identifier)] @name))) @definition
(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator
      declarator: [(field_identifier) (qualified_identifier)] @name))) @definition
(class_specifier name: (type_identifier) @name body: (_)) @definition
(namespace_definition name: (namespace_identifier) @name) @definition
(alias_declaration name: (type_identifier) @name) @definition

[
  (alias_declaration)
  (using_declaration)
  (namespace_definition)
  (template_declaration)
  (static_assert_declaration)
  (for_range_loop)
  (try_statement)
  (throw_statement)
  (co_return_statement)
] @statement

(using_declaration) @import

(raw_string_literal) @string
