; module: tree_sitter_cpp
; function: language
; language-ids: cpp c++
; extensions: .cpp .cc .cxx .c++ .hpp .hh .hxx .h++ .ipp
; line-comment: //

(function_definition
  declarator: (function_declarator
    declarator: [(identifier) (field_identifier) (qualified_identifier)] @name)) @definition
(function_definition
  declarator: (reference_declarator
    (function_declarator
      declarator: [(identifier) (field_identifier) (qualified_identifier)] @name))) @definition
(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator
      declarator: [(identifier) (field_identifier) (qualified_identifier)] @name))) @definition
(class_specifier name: (type_identifier) @name body: (_)) @definition
(struct_specifier name: (type_identifier) @name body: (_)) @definition
(union_specifier name: (type_identifier) @name body: (_)) @definition
(enum_specifier name: (type_identifier) @name body: (_)) @definition
(namespace_definition name: (namespace_identifier) @name) @definition
(type_definition declarator: (type_identifier) @name) @definition
(alias_declaration name: (type_identifier) @name) @definition
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
  (alias_declaration)
  (using_declaration)
  (namespace_definition)
  (template_declaration)
  (static_assert_declaration)
  (field_declaration)
  (expression_statement)
  (if_statement)
  (for_statement)
  (for_range_loop)
  (while_statement)
  (do_statement)
  (switch_statement)
  (try_statement)
  (throw_statement)
  (return_statement)
  (co_return_statement)
  (break_statement)
  (continue_statement)
  (goto_statement)
  (labeled_statement)
  (preproc_include)
  (preproc_def)
  (preproc_function_def)
  (preproc_call)
] @statement

[
  (preproc_include)
  (using_declaration)
] @import

(comment) @comment

[
  (string_literal)
  (raw_string_literal)
  (char_literal)
  (system_lib_string)
] @string

(argument_list) @arguments
