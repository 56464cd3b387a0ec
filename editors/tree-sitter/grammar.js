/**
 * Tree-sitter grammar of the .oaas language, for editors that highlight with tree-sitter
 * (Neovim, Helix, Zed, GitHub). It follows grammar/oaas.pest, the language's one grammar;
 * `test.sh` parses every .oaas file of examples/ and stdlib/ with it and fails on an error
 * node, so the two cannot drift apart unnoticed.
 *
 * Keywords only reserve a word where the keyword can stand: a member may be called `file`
 * (`fn file(name: string)`, `obj.file(...)`), as in the pest grammar.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const commaSep1 = (rule) => seq(rule, repeat(seq(',', rule)));
const commaSep = (rule) => optional(seq(rule, repeat(seq(',', rule)), optional(',')));

// Binding strength, loosest first. The binary levels are the pest grammar's (`BinOp::precedence`
// in compiler/core/src/syntax/ast.rs): `or`, `and`, comparisons, `+ -`, `* / %`, all grouping to
// the left; prefix `not` and `-` bind tighter than any of them, `.field` and `.call()` tighter
// still (`not a.ok()` is `not (a.ok())`).
const PREC = {
  or: 1,
  and: 2,
  compare: 3,
  add: 4,
  multiply: 5,
  unary: 6,
  field: 7,
  call: 8,
  free_call: 9,
};

module.exports = grammar({
  name: 'oaas',

  word: ($) => $.identifier,

  extras: ($) => [/\s|\uFEFF/, $.comment],

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) =>
      choice($.package_declaration, $.use_declaration, $.record_declaration, $.class_declaration),

    package_declaration: ($) => seq('package', field('name', $.identifier)),

    // `use video.Video`, `use acme.media.Photo`: package segments, then the class or record.
    use_declaration: ($) =>
      seq('use', repeat1(seq(field('package', $.identifier), '.')), field('name', $.identifier)),

    annotation: ($) => seq('@', field('name', $.identifier), optional(field('arguments', $.arguments))),

    record_declaration: ($) =>
      seq(
        repeat($.annotation),
        'record',
        field('name', $.identifier),
        '{',
        commaSep($.record_field),
        '}',
      ),
    record_field: ($) => seq(field('name', $.identifier), ':', field('type', $.type)),

    class_declaration: ($) =>
      seq(
        repeat($.annotation),
        'class',
        field('name', $.identifier),
        optional(seq('extends', field('parent', $.identifier))),
        field('body', $.class_body),
      ),
    class_body: ($) => seq('{', repeat($._member), '}'),

    _member: ($) =>
      choice(
        $.state_declaration,
        $.file_declaration,
        $.ref_declaration,
        $.function_declaration,
        $.macro_declaration,
      ),

    modifier: (_) => choice('public', 'internal', 'private', 'mut', 'static', 'override'),

    state_declaration: ($) =>
      seq(
        repeat($.annotation),
        repeat($.modifier),
        'state',
        field('name', $.identifier),
        ':',
        field('type', $.type),
        optional($._default),
      ),
    ref_declaration: ($) =>
      seq(
        repeat($.annotation),
        repeat($.modifier),
        'ref',
        field('name', $.identifier),
        ':',
        field('type', $.type),
        optional($._default),
      ),
    file_declaration: ($) =>
      seq(
        repeat($.annotation),
        repeat($.modifier),
        'file',
        field('name', $.identifier),
        optional(seq(':', field('media_type', $.string))),
      ),
    // Annotations after a signature belong to it (`fn f() -> T  @timeout(5s)`).
    function_declaration: ($) =>
      prec.right(
        seq(
          repeat($.annotation),
          repeat($.modifier),
          'fn',
          field('name', $.identifier),
          field('parameters', $.parameters),
          optional(seq('->', field('result', $.type))),
          repeat($.annotation),
        ),
      ),
    macro_declaration: ($) =>
      seq(
        repeat($.annotation),
        repeat($.modifier),
        'macro',
        field('name', $.identifier),
        field('parameters', $.parameters),
        optional(seq('->', field('result', $.type))),
        repeat($.annotation),
        field('body', $.block),
      ),
    _default: ($) => seq('=', field('default', $._expression)),

    parameters: ($) => seq('(', commaSep($.parameter), ')'),
    parameter: ($) =>
      seq(field('name', $.identifier), ':', field('type', $.type), optional($._default)),

    type: ($) => seq(choice($.list_type, alias($.identifier, $.type_identifier)), optional('?')),
    list_type: ($) => seq('[', $.type, ']'),

    block: ($) => seq('{', repeat($._statement), '}'),
    _statement: ($) => choice($.let_statement, $.return_statement, $.expression_statement),
    let_statement: ($) =>
      seq(
        'let',
        field('name', $.identifier),
        '=',
        field('value', $._expression),
        optional(field('after', $.after_clause)),
      ),
    return_statement: ($) => seq('return', field('value', $._expression)),
    expression_statement: ($) => seq($._expression, optional(field('after', $.after_clause))),
    // `... after a, b`: the statement's calls run after the calls that gave `a` and `b`.
    after_clause: ($) => seq('after', commaSep1($.identifier)),

    _expression: ($) =>
      choice(
        $.binary_expression,
        $.unary_expression,
        $.if_expression,
        $.try_expression,
        $.for_expression,
        $.list,
        $.object,
        $.interpolated_string,
        $._literal,
        $.self,
        $.call_expression,
        $.field_expression,
        $.free_call,
        $.identifier,
        $.parenthesized_expression,
      ),

    binary_expression: ($) =>
      choice(
        ...[
          [PREC.or, 'or'],
          [PREC.and, 'and'],
          [PREC.compare, choice('==', '!=', '<=', '>=', '<', '>')],
          // `a-1` is `a - 1`, as in the pest grammar, not `a` then the number `-1`.
          [PREC.add, choice('+', token(prec(1, '-')))],
          [PREC.multiply, choice('*', '/', '%')],
        ].map(([level, operator]) =>
          prec.left(
            level,
            seq(
              field('left', $._expression),
              field('operator', operator),
              field('right', $._expression),
            ),
          ),
        ),
      ),
    unary_expression: ($) =>
      prec(PREC.unary, seq(field('operator', choice('not', '-')), field('operand', $._expression))),

    call_expression: ($) =>
      prec.left(
        PREC.call,
        seq(
          field('receiver', $._expression),
          '.',
          field('method', $.identifier),
          field('arguments', $.arguments),
        ),
      ),
    field_expression: ($) =>
      prec.left(
        PREC.field,
        seq(field('receiver', $._expression), '.', field('field', $.identifier)),
      ),
    // `f` then `(` is a call, as in the pest grammar, even across a line break.
    free_call: ($) =>
      prec(PREC.free_call, seq(field('function', $.identifier), field('arguments', $.arguments))),
    arguments: ($) => seq('(', commaSep($.argument), ')'),
    // Any word names an argument (`f(if: 1)`), as in the pest grammar: the words that could
    // also begin its value are taken as a name when a `:` follows.
    argument: ($) =>
      seq(
        optional(
          seq(
            field(
              'name',
              choice(
                $.identifier,
                alias(
                  choice('if', 'not', 'try', 'for', 'self', 'true', 'false', 'null'),
                  $.identifier,
                ),
              ),
            ),
            ':',
          ),
        ),
        field('value', $._expression),
      ),
    parenthesized_expression: ($) => seq('(', $._expression, ')'),
    list: ($) => seq('[', commaSep($._expression), ']'),
    object: ($) => seq('{', commaSep($.object_member), '}'),
    object_member: ($) => seq(field('key', $.string), ':', field('value', $._expression)),
    for_expression: ($) =>
      seq(
        'for',
        field('variable', $.identifier),
        'in',
        field('list', $._expression),
        optional(seq('if', field('filter', $._expression))),
        optional(seq('tolerate', field('tolerate', $.tolerance))),
        field('body', $.for_body),
      ),
    // `tolerate 2` or `tolerate 10%`: that many (or that share of) elements may fail.
    tolerance: (_) => token(seq(/[0-9]+/, optional('%'))),
    // `if cond { ... } else { ... }`: a statement, or a value (the last line of each block).
    if_expression: ($) =>
      seq(
        'if',
        field('condition', $._expression),
        field('consequence', $.block),
        optional(seq('else', field('alternative', choice($.if_expression, $.block)))),
      ),
    // `try { ... } catch e { ... }`: the catch block runs when a call of the first one failed.
    try_expression: ($) =>
      seq(
        'try',
        field('body', $.block),
        'catch',
        field('error', $.identifier),
        field('handler', $.block),
      ),
    for_body: ($) => seq('{', repeat($.let_statement), field('value', $._expression), '}'),

    _literal: ($) =>
      choice($.duration, $.float, $.integer, $.string, $.true, $.false, $.null),
    duration: (_) => token(seq(/[0-9]+/, choice('ms', 's', 'm', 'h'))),
    float: (_) => token(seq(optional('-'), /[0-9]+/, choice(/\.[0-9]+([eE][+-]?[0-9]+)?/, /[eE][+-]?[0-9]+/))),
    integer: (_) => token(seq(optional('-'), /[0-9]+/)),
    string: ($) => seq('"', repeat(choice($.string_content, $.escape_sequence)), token.immediate('"')),
    // "paid {amount} for {item.name}": a string with values written into it; `\{` is a `{` of
    // the text. As in the pest grammar, only a string with at least one `{expr}` is one.
    interpolated_string: ($) =>
      seq(
        '"',
        repeat(choice($.string_content, $.escape_sequence)),
        $.interpolation,
        repeat(choice($.string_content, $.escape_sequence, $.interpolation)),
        token.immediate('"'),
      ),
    // Its braces are nodes of their own, so a highlight query tells them from other brackets.
    interpolation: ($) =>
      seq(
        alias(token.immediate('{'), $.interpolation_start),
        $._expression,
        alias('}', $.interpolation_end),
      ),
    // A `{` that cannot open a value (`"{}"`, `"{:x}"`) is text, as in the pest grammar. One
    // that could but does not (`"{ }"`, `"{"`) makes an ERROR here, not in the pest grammar: write
    // `\{`.
    string_content: (_) => token.immediate(prec(1, /([^"\\\n{]|\{[^"\\\n{\s\w\-\[(])+/)),
    escape_sequence: (_) => token.immediate(/\\[^\n]/),
    true: (_) => 'true',
    false: (_) => 'false',
    null: (_) => 'null',
    self: (_) => 'self',

    identifier: (_) => /[A-Za-z_][A-Za-z0-9_]*/,
    comment: (_) => token(seq('//', /[^\n]*/)),
  },
});
