; Highlights for .oaas (capture names as Neovim, Helix and Zed read them).
;
; No two patterns capture the same node: Neovim lets the last matching pattern win, Helix the
; first, so the patterns are kept apart with negated predicates instead of relying on order.

((comment) @comment
  (#not-match? @comment "^///"))
((comment) @comment.documentation
  (#match? @comment.documentation "^///"))

[
  "package"
  "use"
  "record"
  "class"
  "extends"
  "state"
  "file"
  "ref"
] @keyword

[
  "fn"
  "macro"
] @keyword.function

[
  "let"
] @keyword

"return" @keyword.return

[
  "for"
  "in"
] @keyword.repeat

[
  "if"
  "else"
] @keyword.conditional

[
  "try"
  "catch"
] @keyword.exception

[
  "after"
  "tolerate"
] @keyword

[
  "and"
  "or"
  "not"
] @keyword.operator

(modifier) @keyword.modifier

(self) @variable.builtin

[
  (true)
  (false)
] @boolean

(null) @constant.builtin

(integer) @number
(float) @number.float
(duration) @number
(tolerance) @number
[
  (string)
  (interpolated_string)
] @string
(escape_sequence) @string.escape

; `"paid {amount}"`: the value inside the braces is code, not text.
(interpolation) @embedded
[
  (interpolation_start)
  (interpolation_end)
] @punctuation.special

(annotation
  "@" @attribute
  name: (identifier) @attribute)

(package_declaration
  name: (identifier) @module)
(use_declaration
  package: (identifier) @module)
(use_declaration
  name: (identifier) @type)

((type_identifier) @type.builtin
  (#any-of? @type.builtin "int" "float" "bool" "string" "json" "Self"))
((type_identifier) @type
  (#not-any-of? @type "int" "float" "bool" "string" "json" "Self"))

(class_declaration
  name: (identifier) @type.definition)
(class_declaration
  parent: (identifier) @type)
(record_declaration
  name: (identifier) @type.definition)

(record_field
  name: (identifier) @property)
(state_declaration
  name: (identifier) @property)
(ref_declaration
  name: (identifier) @property)
(file_declaration
  name: (identifier) @property)

(function_declaration
  name: (identifier) @function.method)
(macro_declaration
  name: (identifier) @function.method)

(parameter
  name: (identifier) @variable.parameter)

(call_expression
  method: (identifier) @function.method.call)
((free_call
  function: (identifier) @function.builtin)
  (#eq? @function.builtin "flatten"))
((free_call
  function: (identifier) @function.call)
  (#not-eq? @function.call "flatten"))

(field_expression
  field: (identifier) @property)

(argument
  name: (identifier) @variable.parameter)

(let_statement
  name: (identifier) @variable)
(for_expression
  variable: (identifier) @variable)
(try_expression
  error: (identifier) @variable)
(after_clause
  (identifier) @variable)

; A capitalised name before `.`: a class (`Detection.merge(...)`).
((call_expression
  receiver: (identifier) @type)
  (#match? @type "^[A-Z]"))

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  "."
  ":"
] @punctuation.delimiter

[
  "="
  "->"
  "?"
  "=="
  "!="
  "<"
  "<="
  ">"
  ">="
  "+"
  "-"
  "*"
  "/"
  "%"
] @operator
