// vscode_client_caps.cjs — the InitializeParams.capabilities that VS Code's own
// language client (vscode-languageclient, the library the sparkd extension
// uses) sends, computed by that library's code rather than copied by hand.
//
// vscode-languageclient needs the `vscode` module, which exists only inside
// the editor. Here `vscode` is a stand-in whose every member is an inert
// callable object; the client is constructed (nothing is started) and its
// computeClientCapabilities() runs every built-in feature's
// fillClientCapabilities(), exactly what LanguageClient.start() puts into
// `initialize`. Values that would come from the editor itself (the version)
// are fixed below.
'use strict';
const Module = require('module');

const VSCODE_VERSION = '1.96.0';

function inert(name) {
  const f = function () { return inert(`${name}()`); };
  return new Proxy(f, {
    get(target, key) {
      if (key === Symbol.toPrimitive) return () => 0;
      if (typeof key === 'symbol') return undefined;
      if (key === 'then') return undefined;               // not a promise
      if (key === 'prototype') return target.prototype;   // classes extend it
      return inert(`${name}.${key}`);
    },
    construct() { return inert(`new ${name}`); },
    apply() { return inert(`${name}()`); },
  });
}

function vscodeStandIn() {
  const base = inert('vscode');
  const fixed = { version: VSCODE_VERSION, __esModule: true, env: { appName: 'Visual Studio Code', language: 'en' } };
  return new Proxy({}, { get: (_, k) => (k in fixed ? fixed[k] : base[k]) });
}

function vscodeClientCapabilities() {
  const load = Module._load;
  Module._load = function (request, ...rest) {
    if (request === 'vscode') return vscodeStandIn();
    return load.call(this, request, ...rest);
  };
  try {
    const { LanguageClient } = require('vscode-languageclient/node');
    const client = new LanguageClient('sparkd', 'sparkd', { command: 'sparkd', args: ['lsp'] },
      { documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }] });
    // Round-trip through JSON: exactly what goes on the wire.
    return JSON.parse(JSON.stringify(client.computeClientCapabilities()));
  } finally {
    Module._load = load;
  }
}

module.exports = { vscodeClientCapabilities, VSCODE_VERSION };
