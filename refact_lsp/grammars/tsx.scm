; module: tree_sitter_typescript
; function: language_tsx
; language-ids: typescriptreact
; extensions: .tsx
; line-comment: //
; inherits: typescript
