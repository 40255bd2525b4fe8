; module: tree_sitter_lua
; function: language
; language-ids: lua
; extensions: .lua
; line-comment: --

(function_declaration name: (_) @name) @definition
(variable_declaration
  (assignment_statement
    (variable_list name: (identifier) @name)
    (expression_list value: (function_definition)))) @definition

(block) @block

(chunk (_) @statement)
(block (_) @statement)

((variable_declaration) @import
  (#match? @import "^local [^=]+= *require"))

(comment) @comment
(string) @string
(arguments) @arguments
