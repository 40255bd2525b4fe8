; module: tree_sitter_bash
; function: language
; language-ids: shellscript bash sh
; extensions: .sh .bash
; line-comment: #

(function_definition name: (word) @name) @definition

[
  (compound_statement)
  (do_group)
  (case_item)
] @block

(program (_) @statement)
(compound_statement (_) @statement)
(do_group (_) @statement)
(if_statement (_) @statement)
(elif_clause (_) @statement)
(else_clause (_) @statement)
(case_item (_) @statement)

((command name: (command_name) @_command) @import
  (#any-of? @_command "source" "."))

(comment) @comment

[
  (string)
  (raw_string)
  (ansi_c_string)
  (heredoc_body)
] @string
