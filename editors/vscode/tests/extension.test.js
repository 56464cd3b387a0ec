// Smoke test of extension.js outside VS Code: `vscode` and the language client are
// replaced by stubs, and we check the command line the server is started with.

'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const Module = require('node:module');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// A fake `oaasc` on PATH, so that the extension finds a server to start.
const binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaas-vscode-test-'));
const fakeServer = path.join(binDir, 'oaasc');
fs.writeFileSync(fakeServer, '#!/bin/sh\n', { mode: 0o755 });
process.env.PATH = binDir;
test.after(() => fs.rmSync(binDir, { recursive: true, force: true }));

function loadExtension(settings, { startFails = false } = {}) {
  const clients = [];
  const errors = [];
  const handlers = {};
  const vscode = {
    workspace: {
      getConfiguration: (section) => ({ get: (key) => settings[`${section}.${key}`] }),
      onDidChangeConfiguration: (handler) => ((handlers.config = handler), { dispose() {} }),
    },
    commands: {
      registerCommand: (name, handler) => ((handlers[name] = handler), { dispose() {} }),
      executeCommand: async () => {},
    },
    window: {
      showErrorMessage: (message) => (errors.push(message), Promise.resolve(undefined)),
    },
  };
  class LanguageClient {
    constructor(id, name, serverOptions, clientOptions) {
      Object.assign(this, { id, name, serverOptions, clientOptions, running: false });
      clients.push(this);
    }
    async start() {
      if (startFails) throw new Error('spawn oaasc ENOENT');
      this.running = true;
    }
    async stop() {
      this.running = false;
    }
  }
  const client = { LanguageClient, RevealOutputChannelOn: { Never: 4 } };

  const extensionPath = path.join(__dirname, '..', 'extension.js');
  delete require.cache[extensionPath];
  const originalLoad = Module._load;
  Module._load = function (request, ...rest) {
    if (request === 'vscode') return vscode;
    if (request === 'vscode-languageclient/node') return client;
    return originalLoad.call(this, request, ...rest);
  };
  try {
    return { extension: require(extensionPath), clients, errors, handlers };
  } finally {
    Module._load = originalLoad;
  }
}

const context = () => ({ subscriptions: [] });

test('starts `oaasc lsp` over stdio for oaas documents by default', async () => {
  const { extension, clients } = loadExtension({});
  await extension.activate(context());
  assert.equal(clients.length, 1);
  const [client] = clients;
  assert.deepEqual(client.serverOptions, { command: 'oaasc', args: ['lsp'] });
  assert.equal(client.serverOptions.transport, undefined, 'stdio without a --stdio flag');
  assert.ok(client.clientOptions.documentSelector.every((selector) => selector.language === 'oaas'));
  assert.ok(client.running);
  await extension.deactivate();
  assert.ok(!client.running);
});

test('honours oaas.server.path and oaas.server.extraArgs', async () => {
  const { extension, clients } = loadExtension({
    'oaas.server.path': fakeServer,
    'oaas.server.extraArgs': ['--log', 'debug'],
  });
  await extension.activate(context());
  assert.deepEqual(clients[0].serverOptions, {
    command: fakeServer,
    args: ['lsp', '--log', 'debug'],
  });
});

test('restarts when the server settings change', async () => {
  const { extension, clients, handlers } = loadExtension({});
  await extension.activate(context());
  await handlers.config({ affectsConfiguration: (section) => section === 'oaas.server' });
  assert.equal(clients.length, 2);
  assert.ok(!clients[0].running);
  assert.ok(clients[1].running);
  await handlers.config({ affectsConfiguration: () => false });
  assert.equal(clients.length, 2);
  await handlers['oaas.restartServer']();
  assert.equal(clients.length, 3);
});

test('a missing oaasc is reported with the fix, and nothing is started', async () => {
  for (const missing of ['oaasc-not-installed', path.join(binDir, 'nope', 'oaasc')]) {
    const { extension, clients, errors } = loadExtension({ 'oaas.server.path': missing });
    await extension.activate(context());
    assert.equal(clients.length, 0);
    assert.equal(errors.length, 1);
    assert.ok(errors[0].includes(missing), errors[0]);
    assert.match(errors[0], /oaas\.server\.path/);
    await extension.deactivate();
  }
});

test('a server that fails to start is not thrown out of activate', async () => {
  const { extension, clients } = loadExtension({}, { startFails: true });
  await extension.activate(context());
  assert.equal(clients.length, 1);
  await extension.deactivate();
});
