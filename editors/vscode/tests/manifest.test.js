// Checks that package.json, the grammar and the language configuration agree with each
// other, and that every regex in them is well formed (the grammar tests only exercise the
// rules they reach).

'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8'));
const manifest = readJson('package.json');

test('package.json contributes the oaas language, grammar and configuration', () => {
  const [language] = manifest.contributes.languages;
  assert.equal(language.id, 'oaas');
  assert.deepEqual(language.extensions, ['.oaas']);
  assert.ok(fs.existsSync(path.join(root, language.configuration)), language.configuration);

  const [grammar] = manifest.contributes.grammars;
  assert.equal(grammar.language, 'oaas');
  assert.equal(grammar.scopeName, 'source.oaas');
  assert.equal(readJson(grammar.path).scopeName, 'source.oaas');

  assert.ok(fs.existsSync(path.join(root, manifest.main)), manifest.main);
  const settings = manifest.contributes.configuration.properties;
  assert.equal(settings['oaas.server.path'].default, 'oaasc');
  assert.deepEqual(settings['oaas.server.extraArgs'].default, []);
});

test('every include in the grammar names a repository rule', () => {
  const grammar = readJson('syntaxes/oaas.tmLanguage.json');
  const includes = [];
  walk(grammar, (key, value) => key === 'include' && includes.push(value));
  for (const include of includes) {
    if (include === '$self' || include === '$base') continue;
    assert.ok(include.startsWith('#'), `external include ${include}`);
    assert.ok(include.slice(1) in grammar.repository, `unknown rule ${include}`);
  }
});

// vscode-oniguruma does not report a malformed pattern (it compiles to one that matches
// the empty string), so the check is done with JavaScript's RegExp. The grammar keeps to
// the syntax both engines share; a pattern that is Oniguruma-only would need an exception.
test('every regex in the grammar is well formed', () => {
  const grammar = readJson('syntaxes/oaas.tmLanguage.json');
  const regexes = [];
  walk(grammar, (key, value) => ['match', 'begin', 'end', 'while'].includes(key) && regexes.push(value));
  assert.ok(regexes.length > 20);
  for (const source of regexes) {
    assert.doesNotThrow(() => new RegExp(source), source);
  }
});

test('the language configuration regexes compile', () => {
  const config = readJson('language-configuration.json');
  const { increaseIndentPattern, decreaseIndentPattern } = config.indentationRules;
  const increase = new RegExp(increaseIndentPattern);
  const decrease = new RegExp(decreaseIndentPattern);
  assert.ok(increase.test('class Video {'));
  assert.ok(increase.test('  public macro detect_faces(every_s: int = 5) -> Detection {'));
  assert.ok(!increase.test('record Face { x: int, y: int }'));
  assert.ok(!increase.test('  let s = "{"'));
  assert.ok(decrease.test('  }'));
  new RegExp(config.wordPattern);
  for (const rule of config.onEnterRules) new RegExp(rule.beforeText);
});

function walk(node, visit) {
  if (Array.isArray(node)) {
    node.forEach((child) => walk(child, visit));
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (typeof value === 'string') visit(key, value);
      else walk(value, visit);
    }
  }
}
