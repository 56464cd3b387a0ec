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

const commaSep = (rule) => optional(seq(rule, repeat(seq(',', rule)), optional(',')));

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
    let_statement: ($) => seq('let', field('name', $.identifier), '=', field('value', $._expression)),
    return_statement: ($) => seq('return', field('value', $._expression)),
    expression_statement: ($) => $._expression,

    _expression: ($) =>
      choice(
        $.for_expression,
        $.list,
        $.object,
        $._literal,
        $.self,
        $.call_expression,
        $.field_expression,
        $.free_call,
        $.identifier,
        $.parenthesized_expression,
      ),

    call_expression: ($) =>
      prec.left(
        2,
        seq(
          field('receiver', $._expression),
          '.',
          field('method', $.identifier),
          field('arguments', $.arguments),
        ),
      ),
    field_expression: ($) =>
      prec.left(1, seq(field('receiver', $._expression), '.', field('field', $.identifier))),
    // `f` then `(` is a call, as in the pest grammar, even across a line break.
    free_call: ($) =>
      prec(3, seq(field('function', $.identifier), field('arguments', $.arguments))),
    arguments: ($) => seq('(', commaSep($.argument), ')'),
    argument: ($) =>
      seq(optional(seq(field('name', $.identifier), ':')), field('value', $._expression)),
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
        field('body', $.for_body),
      ),
    for_body: ($) => seq('{', repeat($.let_statement), field('value', $._expression), '}'),

    _literal: ($) =>
      choice($.duration, $.float, $.integer, $.string, $.true, $.false, $.null),
    duration: (_) => token(seq(/[0-9]+/, choice('ms', 's', 'm', 'h'))),
    float: (_) => token(seq(optional('-'), /[0-9]+/, choice(/\.[0-9]+([eE][+-]?[0-9]+)?/, /[eE][+-]?[0-9]+/))),
    integer: (_) => token(seq(optional('-'), /[0-9]+/)),
    string: ($) => seq('"', repeat(choice($.string_content, $.escape_sequence)), token.immediate('"')),
    string_content: (_) => token.immediate(prec(1, /[^"\\\n]+/)),
    escape_sequence: (_) => token.immediate(/\\[^\n]/),
    true: (_) => 'true',
    false: (_) => 'false',
    null: (_) => 'null',
    self: (_) => 'self',

    identifier: (_) => /[A-Za-z_][A-Za-z0-9_]*/,
    comment: (_) => token(seq('//', /[^\n]*/)),
  },
});
