// extension.js — sparkd for VS Code: starts `sparkd lsp` with
// vscode-languageclient, which turns sparkd's textDocument/inlineCompletion
// answers into ghost text (and its code actions, once sparkd offers them,
// into light-bulb actions: the library registers every feature the server
// advertises). This file adds: the binary and its start-up flags from the
// sparkd.* settings, live settings changes (restart only when needed), a
// status bar item with the server's state and the last completion latency,
// and Copilot-style didShow / accept notifications for sparkd's statistics.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, State, DidChangeConfigurationNotification, RequestType0, NotificationType } =
  require('vscode-languageclient/node');
const settings = require('./settings');

const StatsRequest = new RequestType0('sparkd/stats');
const DidShowCompletion = new NotificationType('textDocument/didShowCompletion');
const DidPartiallyAccept = new NotificationType('textDocument/didPartiallyAcceptCompletion');

let client = null;
let output = null;
let status = null;
let statsTimer = null;
let lastMs = null;
let lastStats = null;
let state = 'stopped';
let applied = {};          // serverSettings() the running server was started with
let extensionPath = '';

const config = () => vscode.workspace.getConfiguration('sparkd');
const get = (name) => config().get(name);

function expand(p) {
  if (!p) return p;
  if (p === '~' || p.startsWith('~/')) p = path.join(os.homedir(), p.slice(1));
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  if (folder) p = p.replace(/\$\{workspaceFolder\}/g, folder.uri.fsPath);
  return p;
}

// The binary: sparkd.path, else the one bundled in the extension, else PATH.
function binary() {
  const configured = expand(get('path'));
  if (configured) return configured;
  const bundled = path.join(extensionPath, 'bin', process.platform === 'win32' ? 'sparkd.exe' : 'sparkd');
  if (fs.existsSync(bundled)) return bundled;
  return 'sparkd';
}

function documentSelector() {
  const langs = get('documentSelector') || ['*'];
  if (langs.includes('*')) return [{ scheme: 'file' }, { scheme: 'untitled' }];
  return langs.flatMap((language) => [{ scheme: 'file', language }, { scheme: 'untitled', language }]);
}

// Paths in settings may use ~ and ${workspaceFolder}.
function getExpanded(name) {
  const v = get(name);
  return ['model', 'draft', 'cache', 'log_file'].includes(name) && typeof v === 'string' && v !== 'none' ? expand(v) : v;
}

function setState(s) {
  state = s;
  updateStatus();
}

function updateStatus() {
  if (!status) return;
  if (!get('statusBar')) { status.hide(); return; }
  const t = settings.statusText(state, lastStats, lastMs);
  status.text = t.text;
  status.tooltip = t.tooltip;
  status.command = 'sparkd.stats';
  status.show();
}

async function refreshStats() {
  if (!client || state !== 'ready') return;
  try {
    lastStats = await client.sendRequest(StatsRequest);
  } catch (e) {
    output.appendLine(`sparkd/stats failed: ${e.message || e}`);
  }
  updateStatus();
}

// The LSP item for a VS Code inline completion item (for the notifications).
function lspItem(item) {
  const text = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
  const out = { insertText: text };
  if (item.range) out.range = client.code2ProtocolConverter.asRange(item.range);
  return out;
}

const middleware = {
  // Ghost text: time the round trip, tell sparkd what was shown, and hook
  // acceptance (the item's command runs when the user accepts it).
  async provideInlineCompletionItems(document, position, context, token, next) {
    const t0 = Date.now();
    const result = await next(document, position, context, token);
    if (token.isCancellationRequested) return result;
    lastMs = Date.now() - t0;
    const items = Array.isArray(result) ? result : result ? result.items : [];
    if (items && items.length) {
      const first = lspItem(items[0]);
      client.sendNotification(DidShowCompletion, { item: first });
      for (const it of items) {
        const lsp = lspItem(it);
        it.command = { title: 'sparkd: accepted', command: 'sparkd.didAccept', arguments: [lsp, it.command] };
      }
    }
    updateStatus();
    scheduleStats();
    return result;
  },
  // Code actions (issue 10): nothing to add; vscode-languageclient shows them
  // as soon as sparkd advertises codeActionProvider.
};

let statsSoon = null;
function scheduleStats() {
  if (statsSoon) return;
  statsSoon = setTimeout(() => { statsSoon = null; refreshStats(); }, 500);
}

async function start(context) {
  if (client) return;
  if (!get('enable')) { setState('stopped'); return; }
  applied = settings.serverSettings(getExpanded);
  const args = ['lsp', ...settings.serverArgs(getExpanded), ...(get('args') || [])];
  const command = binary();
  output.appendLine(`starting: ${command} ${args.join(' ')}`);
  const serverOptions = { command, args, options: { env: process.env } };
  const clientOptions = {
    documentSelector: documentSelector(),
    initializationOptions: settings.runtimeSettings(getExpanded),
    outputChannel: output,
    middleware,
  };
  client = new LanguageClient('sparkd', 'sparkd', serverOptions, clientOptions);
  client.onDidChangeState((e) => {
    if (e.newState === State.Running) { setState('ready'); refreshStats(); }
    else if (e.newState === State.Starting) setState('starting');
    else if (e.newState === State.Stopped && state !== 'stopped') setState('error');
  });
  setState('starting');
  try {
    await client.start();
  } catch (e) {
    setState('error');
    output.appendLine(`sparkd did not start: ${e.message || e}`);
    vscode.window.showErrorMessage(`sparkd did not start (${command}): ${e.message || e}. ` +
      'Set "sparkd.path" to the sparkd binary.', 'Open settings').then((choice) => {
      if (choice) vscode.commands.executeCommand('workbench.action.openSettings', 'sparkd');
    });
  }
}

async function stop() {
  const c = client;
  client = null;
  setState('stopped');
  if (c) {
    try { await c.stop(); } catch (e) { output.appendLine(`stop: ${e.message || e}`); }
  }
}

async function restart(context) {
  await stop();
  await start(context);
}

async function onConfigChange(e, context) {
  if (!e.affectsConfiguration('sparkd')) return;
  if (!get('enable')) { await stop(); return; }
  if (!client) { await start(context); return; }
  const now = settings.serverSettings(getExpanded);
  const changed = settings.needsRestart(applied, now);
  if (changed.length || e.affectsConfiguration('sparkd.path') || e.affectsConfiguration('sparkd.args') ||
      e.affectsConfiguration('sparkd.documentSelector')) {
    output.appendLine(`settings changed (${changed.join(', ') || 'path/args/documents'}): restarting sparkd`);
    await restart(context);
    return;
  }
  applied = now;
  client.sendNotification(DidChangeConfigurationNotification.type,
    { settings: { sparkd: settings.runtimeSettings(getExpanded) } });
  updateStatus();
}

async function showStats() {
  await refreshStats();
  if (!lastStats) { vscode.window.showWarningMessage('sparkd is not running.'); return; }
  output.appendLine(`sparkd/stats: ${JSON.stringify(lastStats, null, 2)}`);
  const t = settings.statusText(state, lastStats, lastMs);
  const choice = await vscode.window.showInformationMessage(t.tooltip.replace(/\n/g, ' · '), 'Show all');
  if (choice) output.show(true);
}

function activate(context) {
  extensionPath = context.extensionPath;
  output = vscode.window.createOutputChannel('sparkd');
  status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  status.name = 'sparkd';
  context.subscriptions.push(output, status,
    vscode.commands.registerCommand('sparkd.restart', () => restart(context)),
    vscode.commands.registerCommand('sparkd.stats', showStats),
    vscode.commands.registerCommand('sparkd.showLog', () => output.show(true)),
    vscode.commands.registerCommand('sparkd.toggle', async () => {
      await config().update('enable', !get('enable'), vscode.ConfigurationTarget.Global);
    }),
    // Runs when the user accepts ghost text (Tab): sparkd counts accepted
    // characters; then the server's own command, if the item had one.
    vscode.commands.registerCommand('sparkd.didAccept', async (item, original) => {
      if (client && item) {
        client.sendNotification(DidPartiallyAccept, { item, acceptedLength: item.insertText.length });
        scheduleStats();
      }
      if (original && original.command) {
        await vscode.commands.executeCommand(original.command, ...(original.arguments || []));
      }
    }),
    vscode.workspace.onDidChangeConfiguration((e) => onConfigChange(e, context)),
    { dispose: () => { if (statsTimer) clearInterval(statsTimer); } });
  statsTimer = setInterval(() => { if (vscode.window.state.focused) refreshStats(); }, 10000);
  updateStatus();
  return start(context);
}

function deactivate() {
  if (statsTimer) clearInterval(statsTimer);
  return stop();
}

module.exports = { activate, deactivate };
