// vscode_fake_host.cjs — just enough of the `vscode` module to activate the
// sparkd extension (editors/vscode) outside VS Code: settings, the output
// channel, the status bar item, commands and window state are real objects
// recorded for the test; every other API member is an inert stand-in (from
// vscode_client_caps.cjs's approach). vscode-languageclient then really starts
// `sparkd lsp` and runs initialize over stdio.
'use strict';
const Module = require('module');

function inert(name) {
  const f = function () { return inert(`${name}()`); };
  return new Proxy(f, {
    get(target, key) {
      if (key === Symbol.toPrimitive) return () => 0;
      if (typeof key === 'symbol' || key === 'then') return undefined;
      if (key === 'prototype') return target.prototype;
      if (key === 'dispose') return () => {};
      return inert(`${name}.${key}`);
    },
    construct() { return inert(`new ${name}`); },
    apply() { return inert(`${name}()`); },
  });
}

function makeHost(settings) {
  const rec = { log: [], statusItems: [], commands: new Map(), errors: [], configListeners: [], providers: [] };
  const base = inert('vscode');
  const config = (section) => ({
    get: (k) => settings[section ? `${section}.${k}` : k],
    has: (k) => `${section}.${k}` in settings,
    update: async (k, v) => { settings[`${section}.${k}`] = v; },
    inspect: () => undefined,
  });
  const channel = (name) => ({
    name, logLevel: 2,
    append: (s) => rec.log.push(String(s)), appendLine: (s) => rec.log.push(String(s)),
    replace: () => {}, clear: () => {}, show: () => {}, hide: () => {}, dispose: () => {},
    trace: (s) => rec.log.push(String(s)), debug: (s) => rec.log.push(String(s)), info: (s) => rec.log.push(String(s)),
    warn: (s) => rec.log.push(String(s)), error: (s) => rec.log.push(String(s)),
    onDidChangeLogLevel: () => ({ dispose() {} }),
  });
  const host = {
    __esModule: true,
    version: '1.96.0',
    env: { appName: 'Visual Studio Code', language: 'en', machineId: 'test', sessionId: 'test' },
    StatusBarAlignment: { Left: 1, Right: 2 },
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    workspace: new Proxy({
      getConfiguration: config,
      workspaceFolders: undefined,
      textDocuments: [],
      notebookDocuments: [],
      onDidChangeConfiguration: (fn) => { rec.configListeners.push(fn); return { dispose() {} }; },
    }, { get: (t, k) => (k in t ? t[k] : base.workspace[k]) }),
    window: new Proxy({
      state: { focused: true },
      createOutputChannel: channel,
      createStatusBarItem: () => { const s = { text: '', tooltip: '', show() { s.visible = true; }, hide() { s.visible = false; }, dispose() {} }; rec.statusItems.push(s); return s; },
      showErrorMessage: async (m) => { rec.errors.push(m); return undefined; },
      showWarningMessage: async (m) => { rec.errors.push(m); return undefined; },
      showInformationMessage: async () => undefined,
      visibleTextEditors: [],
      activeTextEditor: undefined,
    }, { get: (t, k) => (k in t ? t[k] : base.window[k]) }),
    commands: new Proxy({
      registerCommand: (id, fn) => { rec.commands.set(id, fn); return { dispose() {} }; },
      executeCommand: async (id, ...a) => (rec.commands.has(id) ? rec.commands.get(id)(...a) : undefined),
    }, { get: (t, k) => (k in t ? t[k] : base.commands[k]) }),
  };
  host.languages = new Proxy({}, { get: (t, k) => (typeof k === 'string' && k.startsWith('register')
    ? (selector, provider) => { rec.providers.push({ kind: k, selector, provider }); return { dispose() {} }; }
    : base.languages[k]) });
  const vscode = new Proxy(host, { get: (t, k) => (k in t ? t[k] : base[k]) });
  return { vscode, rec };
}

// Loads a module with `vscode` resolved to the fake host.
function withHost(vscode, load) {
  const orig = Module._load;
  Module._load = function (request, ...rest) {
    if (request === 'vscode') return vscode;
    return orig.call(this, request, ...rest);
  };
  try { return load(); } finally { Module._load = orig; }
}

module.exports = { makeHost, withHost };
