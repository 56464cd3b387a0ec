// The OaaS extension: starts `oaasc lsp` over stdio and connects it to `.oaas` files.
// All language smarts (diagnostics, hover, go-to-definition, completion, formatting)
// live in the server; this file only starts, restarts and stops it.
// Plain JavaScript so that the extension needs no build step.

'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');
const { LanguageClient, RevealOutputChannelOn } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;
/** Restarts run one after another, however fast the settings change. */
let restarting = Promise.resolve();

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('oaas.restartServer', restartServer),
    vscode.workspace.onDidChangeConfiguration((event) =>
      event.affectsConfiguration('oaas.server') ? restartServer() : undefined,
    ),
  );
  await restartServer();
}

async function deactivate() {
  await restarting;
  await stopServer();
}

/** The command line from the settings: `<oaas.server.path> lsp <oaas.server.extraArgs...>`. */
function serverCommand() {
  const config = vscode.workspace.getConfiguration('oaas.server');
  const command = config.get('path') || 'oaasc';
  const extraArgs = config.get('extraArgs') || [];
  return { command, args: ['lsp', ...extraArgs] };
}

async function startServer() {
  const { command, args } = serverCommand();
  if (!canRun(command)) {
    // Highlighting still works without the server; say what to fix and carry on.
    vscode.window
      .showErrorMessage(
        `OaaS: the language server \`${command}\` was not found. ` +
          'Put `oaasc` on your PATH or set `oaas.server.path`, then run "OaaS: Restart Language Server".',
        'Open Settings',
      )
      .then((choice) => {
        if (choice === 'Open Settings') {
          vscode.commands.executeCommand('workbench.action.openSettings', 'oaas.server');
        }
      });
    return;
  }
  // No `transport` on purpose: with TransportKind.stdio the client would append `--stdio`.
  const serverOptions = { command, args };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'oaas' },
      { scheme: 'untitled', language: 'oaas' },
    ],
    outputChannelName: 'OaaS Language Server',
    revealOutputChannelOn: RevealOutputChannelOn.Never,
  };
  client = new LanguageClient('oaas', 'OaaS Language Server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch {
    // The client has already logged the failure and shown a notification.
    client = undefined;
  }
}

/**
 * Whether `command` names an executable file: a bare name is looked up on PATH, an
 * absolute path is checked as is. A relative path is left to the spawn to resolve.
 */
function canRun(command) {
  const exts = process.platform === 'win32' ? ['', ...(process.env.PATHEXT || '.EXE;.CMD').split(';')] : [''];
  let dirs;
  if (path.isAbsolute(command)) {
    dirs = [''];
  } else if (command.includes('/') || command.includes(path.sep)) {
    return true;
  } else {
    dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  }
  return dirs.some((dir) => exts.some((ext) => isExecutable(path.join(dir, command + ext))));
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

async function stopServer() {
  const running = client;
  client = undefined;
  if (running) {
    try {
      await running.stop();
    } catch {
      // The server may already be gone; nothing else to clean up.
    }
  }
}

function restartServer() {
  restarting = restarting.then(stopServer).then(startServer);
  return restarting;
}

module.exports = { activate, deactivate };
