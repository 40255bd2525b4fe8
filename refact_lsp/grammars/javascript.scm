; module: tree_sitter_javascript
; function: language
; language-ids: javascript javascriptreact
; extensions: .js .mjs .cjs .jsx
; line-comment: //
; inherits: ecmascript

; TypeScript's class fields are public_field_definition (typescript.scm).
(field_definition) @statement
