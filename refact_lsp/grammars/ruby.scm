; module: tree_sitter_ruby
; function: language
; language-ids: ruby
; extensions: .rb .rake .gemspec .ru
; line-comment: #

(method name: (_) @name) @definition
(singleton_method name: (_) @name) @definition
(class name: (_) @name) @definition
(module name: (_) @name) @definition

[
  (body_statement)
  (then)
  (else)
  (do)
  (block_body)
  (ensure)
] @block

(program (_) @statement)
(body_statement (_) @statement)
(then (_) @statement)
(else (_) @statement)
(do (_) @statement)
(block_body (_) @statement)
(ensure (_) @statement)

((call method: (identifier) @_method) @import
  (#any-of? @_method "require" "require_relative" "load"))

(comment) @comment

[
  (string)
  (heredoc_body)
] @string

(argument_list) @arguments
