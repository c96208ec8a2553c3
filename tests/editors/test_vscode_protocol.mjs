// test_vscode_protocol.mjs — `sparkd lsp` as VS Code's language client sees it.
//
// The client side is VS Code's own protocol stack from npm: vscode-jsonrpc +
// vscode-languageserver-protocol (createProtocolConnection, the typed request
// and notification objects), and the `initialize` capabilities are the ones
// vscode-languageclient itself computes (vscode_client_caps.cjs). The
// initializationOptions and settings come from the sparkd extension's own
// editors/vscode/src/settings.js.
//
// Every message sparkd writes is captured off the wire and validated against
// the LSP meta-model of vscode-languageserver-protocol (lsp_metamodel.mjs):
// types, required fields, enumerations, integer ranges, unknown properties;
// responses are matched to their requests (each answered exactly once).
// sparkd/stats, sparkd's own request, is checked against its documented shape.
//
// Sessions: (1) inline completion (textDocument/inlineCompletion, as VS Code
// >= 1.91 with vscode-languageclient >= 10 asks for ghost text), incremental
// didChange, UTF-16 positions after non-ASCII text, $/cancelRequest, Copilot-
// style didShow/didPartiallyAccept notifications, $/setTrace -> $/logTrace,
// didChangeConfiguration, code actions when advertised; (2) the completion
// fallback a client without inline completion gets (textDocument/completion).
//
// Env: SPARKD_BIN (default build/sparkd), SPARKD_TEST_MODEL (a GGUF; default: a
// random-weight model made by tools/make_test_model.py, which always produces
// some text). Exit: 0 passed, 1 failed, 77 skipped (npm packages missing:
// run tests/editors/setup.sh).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.SPARKD_SRC || path.resolve(here, '..', '..');
const require = createRequire(path.join(here, 'package.json'));

let P, rpc, mmod, vcaps;
try {
  P = require('vscode-languageserver-protocol/node');
  rpc = require('vscode-jsonrpc/node');
  require('typescript');
  vcaps = require('./vscode_client_caps.cjs');
  mmod = await import('./lsp_metamodel.mjs');
} catch (e) {
  console.log(`SKIP: npm packages missing (run tests/editors/setup.sh): ${e.message.split('\n')[0]}`);
  process.exit(77);
}
const settingsMod = createRequire(import.meta.url)(path.join(root, 'editors', 'vscode', 'src', 'settings.js'));

const TIMEOUT_MS = Number(process.env.SPARKD_TEST_TIMEOUT_MS || 60000);   // ASan builds are slow
const bin = process.env.SPARKD_BIN || path.join(root, 'build', 'sparkd');
if (!fs.existsSync(bin)) { console.log(`FAIL: no sparkd binary at ${bin} (set SPARKD_BIN or run ./setup.sh)`); process.exit(1); }
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkd-vscode-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

let passed = 0, failed = 0;
function check(name, cond, detail = '') {
  if (cond) { passed++; console.log(`ok   ${name}`); } else { failed++; console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`); }
  return cond;
}
function within(promise, what, ms = TIMEOUT_MS) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function testModel() {
  if (process.env.SPARKD_TEST_MODEL) return process.env.SPARKD_TEST_MODEL;
  const out = path.join(tmp, 'random.gguf');
  const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(py, [path.join(root, 'tools', 'make_test_model.py'), '--printable', '--out', out], { encoding: 'utf8' });
  if (r.status !== 0) { console.log(`FAIL: cannot make a test model: ${r.stderr || r.error}`); process.exit(1); }
  return out;
}

// ---------------------------------------------------------------- the meta-model
const t0 = Date.now();
const mm = mmod.loadMetaModel(require);
console.log(`meta-model: vscode-languageserver-protocol ${mm.version} (${mm.requests.size} requests, ` +
  `${mm.notifications.size} notifications, read from its .d.ts in ${Date.now() - t0} ms); ` +
  `vscode-jsonrpc ${mmod.packageVersion(require, 'vscode-jsonrpc')}, vscode-languageclient ` +
  `${mmod.packageVersion(require, 'vscode-languageclient')}`);
check('meta-model has textDocument/inlineCompletion and textDocument/completion',
  !!mm.request('textDocument/inlineCompletion') && !!mm.request('textDocument/completion'));

// sparkd/stats is sparkd's own request: its shape as documented, in the
// meta-model's terms (literal structures of base types).
const U = { kind: 'base', name: 'uinteger' }, S = { kind: 'base', name: 'string' };
const N = { kind: 'base', name: 'decimal' }, ANY = { kind: 'base', name: 'any' };
const lit = (props, extra = false) => ({ kind: 'literal', index: extra ? ANY : null,
  properties: Object.entries(props).map(([name, type]) => ({ name, optional: name.endsWith('?'), type }))
    .map((p) => ({ ...p, name: p.name.replace(/\?$/, '') })) });
const LATENCY = lit({ count: U, mean_us: U, p50_us: U, p99_us: U, max_us: U,
  histogram: { kind: 'array', element: lit({ le_us: U, count: U }) } });
const STATS = lit({
  uptime_ms: U, requests: U, notifications: U, errors: U, bad_frames: U, cancel_requests: U, latency: LATENCY,
  documents: U, position_encoding: { kind: 'or', items: ['utf-8', 'utf-16', 'utf-32'].map((v) => ({ kind: 'stringLiteral', value: v })) },
  config: { kind: 'base', name: 'object' }, model: S,
  completions: lit({ requests: U, answered: U, fast_path: U, empty: U, empty_reasons: { kind: 'map', key: S, value: U },
    shown: U, partial_accepts: U, accepted_chars: U, latency: LATENCY, 'acceptance_rate?': N }, true),
}, true);

// ---------------------------------------------------------------- one session
class Session {
  constructor(label, args) {
    this.label = label;
    this.sent = new Map();      // id -> method (requests we sent)
    this.answered = new Map();  // id -> count of responses
    this.validated = 0;
    this.problems = [];
    this.logTraces = 0;
    this.child = spawn(bin, ['lsp', ...args], { stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, XDG_CACHE_HOME: path.join(tmp, `cache-${label}`) } });
    this.stderr = '';
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    this.child.stdin.on('error', () => {});
    // Frames in both directions, parsed independently of the library.
    this.child.stdout.on('data', framer((m) => this.fromServer(m), (e) => this.problem(`server frame: ${e}`)));
    const tee = new PassThrough();
    tee.on('data', framer((m) => this.fromClient(m), (e) => this.problem(`client frame: ${e}`)));
    tee.pipe(this.child.stdin);
    this.conn = P.createProtocolConnection(new rpc.StreamMessageReader(this.child.stdout), new rpc.StreamMessageWriter(tee));
    this.conn.onNotification(P.LogTraceNotification.type, () => { this.logTraces++; });
    this.conn.onError((e) => this.problem(`connection error: ${e[0] && e[0].message}`));
    this.conn.listen();
  }
  problem(msg) { this.problems.push(msg); }
  fromClient(m) {
    if (m.id !== undefined && m.method) this.sent.set(m.id, m.method);
    // What the test sends must be valid too, or its findings mean little.
    const desc = m.method && (m.id !== undefined ? mm.request(m.method) : mm.notification(m.method));
    if (desc && desc.params) {
      const errs = mm.validate(m.params, desc.params, `client ${m.method} params`);
      errs.forEach((e) => this.problem(e));
    }
  }
  fromServer(m) {
    this.validated++;
    const where = `${this.label}: server message ${JSON.stringify(m).slice(0, 80)}`;
    if (m.jsonrpc !== '2.0') this.problem(`${where}: jsonrpc is not "2.0"`);
    const isResponse = 'result' in m || 'error' in m;
    if (isResponse) {
      if (m.method !== undefined) this.problem(`${where}: a response with a method`);
      if ('result' in m && 'error' in m) this.problem(`${where}: both result and error`);
      const method = this.sent.get(m.id);
      if (method === undefined) { this.problem(`${where}: answers id ${JSON.stringify(m.id)}, which was never sent`); return; }
      this.answered.set(m.id, (this.answered.get(m.id) || 0) + 1);
      if (this.answered.get(m.id) > 1) this.problem(`${where}: second answer to ${method} id ${m.id}`);
      if ('error' in m) {
        const e = m.error;
        if (!e || !Number.isInteger(e.code) || typeof e.message !== 'string')
          this.problem(`${where}: error must be {code: integer, message: string}`);
        return;
      }
      const errs = method === 'sparkd/stats' ? mm.validate(m.result, STATS, `${method} result`)
        : mm.request(method) ? mm.validate(m.result, mm.request(method).result, `${method} result`)
          : [`no meta-model entry for ${method}`];
      errs.forEach((e) => this.problem(`${this.label}: ${e}`));
      return;
    }
    if (typeof m.method !== 'string') { this.problem(`${where}: neither a response nor a method`); return; }
    const desc = m.id !== undefined ? mm.request(m.method) : mm.notification(m.method);
    if (!desc) { this.problem(`${where}: ${m.method} is not an LSP ${m.id !== undefined ? 'request' : 'notification'}`); return; }
    if (desc.params) mm.validate(m.params, desc.params, `${m.method} params`).forEach((e) => this.problem(`${this.label}: ${e}`));
  }
  request(type, params, token) { return within(this.conn.sendRequest(type, params, token), `${this.label}: ${type.method}`); }
  notify(type, params) { return this.conn.sendNotification(type, params); }
  async close() {
    const r = await this.request(P.ShutdownRequest.type);
    check(`${this.label}: shutdown answers null`, r === null || r === undefined, JSON.stringify(r));
    await this.notify(P.ExitNotification.type);
    const { code } = await within(this.exited, `${this.label}: exit`);
    check(`${this.label}: exit status 0 after shutdown/exit`, code === 0, `status ${code}`);
    this.conn.dispose();
    const unanswered = [...this.sent.keys()].filter((id) => !this.answered.has(id));
    check(`${this.label}: every request answered exactly once`, !unanswered.length && !this.problems.some((p) => p.includes('second answer')),
      unanswered.map((id) => `${this.sent.get(id)} #${id}`).join(', '));
    check(`${this.label}: all ${this.validated} messages from sparkd valid against the LSP meta-model`,
      this.validated > 0 && !this.problems.length, this.problems.slice(0, 12).join('\n     '));
    const bad = this.stderr.split('\n').filter((l) => /rejected message|ignored unknown|ignored '|must be|is not open|bad frame/.test(l));
    check(`${this.label}: sparkd accepted everything VS Code's client sent (no protocol warnings)`, !bad.length, bad.slice(0, 5).join('\n     '));
  }
}

// Content-Length frames -> parsed messages.
function framer(onMessage, onError) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const header = buf.subarray(0, end).toString('ascii');
      const m = /content-length:\s*(\d+)/i.exec(header);
      if (!m) { onError(`no Content-Length in ${JSON.stringify(header)}`); buf = buf.subarray(end + 4); continue; }
      const len = Number(m[1]);
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      buf = buf.subarray(end + 4 + len);
      try { onMessage(JSON.parse(body)); } catch (e) { onError(`invalid JSON: ${e.message}`); }
    }
  };
}

// ---------------------------------------------------------------- documents
const uriOf = (name) => pathToFileURL(path.join(tmp, name)).href;
// Position of the end of `text` in UTF-16 code units (what VS Code counts;
// JavaScript strings are UTF-16 too).
function endPosition(text) {
  const lines = text.split('\n');
  return { line: lines.length - 1, character: lines[lines.length - 1].length };
}
// A document with a cursor; `|` in the initial text marks the cursor.
class Doc {
  constructor(s, name, languageId, marked) {
    this.cursor = marked.indexOf('|');
    Object.assign(this, { s, uri: uriOf(name), languageId, text: marked.replace('|', ''), version: 1 });
  }
  pos() { return endPosition(this.text.slice(0, this.cursor)); }
  open() {
    return this.s.notify(P.DidOpenTextDocumentNotification.type,
      { textDocument: { uri: this.uri, languageId: this.languageId, version: this.version, text: this.text } });
  }
  // Types `ins` at the cursor, reported as VS Code does: an incremental change
  // with range and rangeLength.
  type(ins) {
    const pos = this.pos();
    this.text = this.text.slice(0, this.cursor) + ins + this.text.slice(this.cursor);
    this.cursor += ins.length;
    this.version++;
    return this.s.notify(P.DidChangeTextDocumentNotification.type, {
      textDocument: { uri: this.uri, version: this.version },
      contentChanges: [{ range: { start: pos, end: pos }, rangeLength: 0, text: ins }] });
  }
}

// Asks at the cursor until a non-empty suggestion arrives: a random model can
// start with a byte that is not valid UTF-8 text (sparkd then answers nothing),
// so each retry types one more character, as a user would.
async function askUntilText(s, doc, ask, extract, label) {
  const typed = ['r', 'e', 't', 'u', 'r', 'n', ' ', 'x', ' ', '+', ' ', '1', ';'];
  let last = null;
  for (let i = 0; i <= typed.length; i++) {
    const pos = doc.pos();
    const res = await s.request(...ask(pos));
    const got = extract(res);
    if (got) return { ...got, pos, tries: i + 1 };
    last = res;
    if (i < typed.length) await doc.type(typed[i]);
  }
  const st = await s.request(new P.RequestType0('sparkd/stats'));
  console.log(`     ${label}: every answer was empty; last ${JSON.stringify(last)}; sparkd's reasons: ` +
    `${JSON.stringify(st.completions && st.completions.empty_reasons)}; model: ${st.model}`);
  return null;
}
const samePos = (a, b) => a && b && a.line === b.line && a.character === b.character;

// The committed lockfiles pin exact versions and integrity hashes, and name no
// registry: npm ci resolves each package by name from the configured one.
for (const lock of ['tests/editors/package-lock.json', 'editors/vscode/package-lock.json']) {
  const text = fs.readFileSync(path.join(root, lock), 'utf8');
  const pkgs = JSON.parse(text).packages || {};
  const entries = Object.entries(pkgs).filter(([k]) => k);
  check(`${lock}: no "resolved" URLs, every package pinned with an integrity hash`,
    !/"resolved"\s*:/.test(text) && entries.length > 0 && entries.every(([, v]) => v.version && (v.integrity || v.link)),
    entries.filter(([, v]) => !v.integrity && !v.link).map(([k]) => k).slice(0, 5).join(', '));
}

// ---------------------------------------------------------------- session 1: VS Code
const model = testModel();
const modelArgs = ['--model', model, '--draft', 'none', '--log-level', 'debug'];
const caps = vcaps.vscodeClientCapabilities();
check('VS Code client capabilities computed by vscode-languageclient (inlineCompletion, utf-16 only)',
  !!caps.textDocument?.inlineCompletion && JSON.stringify(caps.general?.positionEncodings) === '["utf-16"]',
  JSON.stringify(caps.general));
const initParamsErrs = mm.validate(caps, mm.type('ClientCapabilities'), 'ClientCapabilities');
check('those capabilities are valid ClientCapabilities (sanity of the test itself)', !initParamsErrs.length, initParamsErrs.slice(0, 5).join('; '));

// What the extension starts and sends, for settings a user could have made
// (unset ones are null or "" and are not sent).
const userSettings = { model, draft: 'none', log_level: 'debug', n_predict: 24, debounce_ms: 10, device: '', cache: null };
const getSetting = (k) => userSettings[k];
const initOptions = settingsMod.runtimeSettings(getSetting);
const extArgs = settingsMod.serverArgs(getSetting);

async function vscodeSession() {
  const s = new Session('vscode', extArgs);   // as the extension starts it: `sparkd lsp` + its arguments
  check('extension arguments carry the start-up settings', extArgs.includes(`--model=${model}`) && extArgs.includes('--draft=none'),
    JSON.stringify(extArgs));
  const init = await s.request(P.InitializeRequest.type, {
    processId: process.pid,
    clientInfo: { name: 'Visual Studio Code', version: vcaps.VSCODE_VERSION },
    locale: 'en',
    rootPath: tmp, rootUri: pathToFileURL(tmp).href,
    capabilities: caps,
    initializationOptions: initOptions,
    trace: 'off',
    workspaceFolders: [{ uri: pathToFileURL(tmp).href, name: 'sparkd-test' }],
  });
  const sc = init.capabilities;
  check('initialize: inlineCompletionProvider advertised', !!sc.inlineCompletionProvider, JSON.stringify(sc));
  check('initialize: no completionProvider (VS Code has inline completion)', !sc.completionProvider, JSON.stringify(sc.completionProvider));
  check('initialize: positionEncoding utf-16 (all VS Code offers)', sc.positionEncoding === undefined || sc.positionEncoding === 'utf-16', sc.positionEncoding);
  check('initialize: incremental sync', sc.textDocumentSync === 2 || sc.textDocumentSync?.change === 2, JSON.stringify(sc.textDocumentSync));
  check('initialize: serverInfo.name is sparkd', init.serverInfo?.name === 'sparkd');
  await s.notify(P.InitializedNotification.type, {});
  await s.notify(P.DidChangeConfigurationNotification.type, { settings: { sparkd: { ...initOptions, n_predict: 20 } } });

  // A C file with non-ASCII text before the cursor on its line: é is 1 UTF-16
  // unit (2 UTF-8 bytes), 😀 is 2 units (4 bytes).
  const doc = new Doc(s, 'main.c', 'c', '#include <stdio.h>\n\nstatic int add(int a, int b) {\n' +
    '    /* é😀 */ int x = a + b; |\n}\n\nint main(void) {\n    printf("%d\\n", add(1, 2));\n    return 0;\n}\n');
  await doc.open();
  const askInline = (pos) => [P.InlineCompletionRequest.type, {
    textDocument: { uri: doc.uri }, position: pos,
    context: { triggerKind: P.InlineCompletionTriggerKind.Automatic } }];
  const inlineText = (r) => {
    const items = Array.isArray(r) ? r : r?.items;
    const it = items && items.find((x) => (typeof x.insertText === 'string' ? x.insertText : x.insertText?.value));
    return it ? { item: it, text: typeof it.insertText === 'string' ? it.insertText : it.insertText.value } : null;
  };
  const got = await askUntilText(s, doc, askInline, inlineText, 'inlineCompletion');
  if (check('inlineCompletion: a non-empty suggestion arrives (VS Code would show ghost text)', !!got)) {
    console.log(`     after ${got.tries} request(s): ${JSON.stringify(got.text.slice(0, 60))} at ${JSON.stringify(got.pos)}`);
    const r = got.item.range;
    check('inlineCompletion: item.range starts and ends at the cursor, in UTF-16 units after é😀',
      !r || (samePos(r.start, got.pos) && samePos(r.end, got.pos)), `range ${JSON.stringify(r)}, cursor ${JSON.stringify(got.pos)}`);
    // What VS Code does when the user accepts: the text is inserted at the range.
    const applied = doc.text.slice(0, doc.cursor) + got.text + doc.text.slice(doc.cursor);
    check('inlineCompletion: accepting inserts the text at the cursor, the rest intact',
      applied.startsWith(doc.text.slice(0, doc.cursor)) && applied.endsWith(doc.text.slice(doc.cursor)) &&
      applied.length === doc.text.length + got.text.length);
    // Copilot-style notifications VS Code extensions send.
    await s.notify(new P.NotificationType('textDocument/didShowCompletion'), { item: got.item });
    await s.notify(new P.NotificationType('textDocument/didPartiallyAcceptCompletion'),
      { item: got.item, acceptedLength: Math.min(1, got.text.length) });
    // Typing the first character of the suggestion: the answer continues it.
    if (got.text.length > 1 && got.text[0] !== '\n') {
      await doc.type(got.text[0]);
      const r2 = inlineText(await s.request(...askInline(doc.pos())));
      check('inlineCompletion: typing into the suggestion keeps it (the rest is offered)',
        r2 && got.text.slice(1).startsWith(r2.text.slice(0, Math.min(r2.text.length, got.text.length - 1))),
        `had ${JSON.stringify(got.text)}, then ${JSON.stringify(r2 && r2.text)}`);
    }
  }

  // VS Code cancels the ghost-text request of a superseded keystroke.
  const src2 = new P.CancellationTokenSource();
  const pos = doc.pos();
  const pending = s.conn.sendRequest(P.InlineCompletionRequest.type,
    { textDocument: { uri: doc.uri }, position: pos, context: { triggerKind: P.InlineCompletionTriggerKind.Invoked } }, src2.token);
  src2.cancel();
  let cancelOutcome;
  try { cancelOutcome = await within(pending, 'cancelled inlineCompletion'); cancelOutcome = 'answered'; } catch (e) {
    cancelOutcome = e instanceof rpc.ResponseError ? `error ${e.code}` : e.message;
  }
  check('$/cancelRequest: the cancelled request is answered (result, or error -32800)',
    cancelOutcome === 'answered' || cancelOutcome === `error ${P.LSPErrorCodes.RequestCancelled}`, cancelOutcome);

  // $/setTrace verbose -> $/logTrace notifications (validated like the rest).
  await s.notify(P.SetTraceNotification.type, { value: 'verbose' });
  await s.request(P.InlineCompletionRequest.type, askInline(pos)[1]);
  await s.notify(P.SetTraceNotification.type, { value: 'off' });
  check('$/setTrace verbose: sparkd mirrors its log as $/logTrace', s.logTraces > 0, `${s.logTraces} notifications`);

  // Code actions (issue 10): exercised when sparkd advertises them.
  if (sc.codeActionProvider) {
    const range = { start: { line: 2, character: 0 }, end: { line: 4, character: 1 } };
    const actions = await s.request(P.CodeActionRequest.type, { textDocument: { uri: doc.uri }, range,
      context: { diagnostics: [], triggerKind: P.CodeActionTriggerKind.Invoked } });
    check('codeAction: answered (list or null)', actions === null || Array.isArray(actions), JSON.stringify(actions).slice(0, 200));
    const resolvable = (actions || []).find((a) => a && a.title && !a.edit && a.data !== undefined);
    if (resolvable && sc.codeActionProvider.resolveProvider)
      await s.request(P.CodeActionResolveRequest.type, resolvable);
  } else {
    console.log('skip codeAction/resolve: sparkd does not advertise codeActionProvider yet (issue 10)');
  }

  const stats = await s.request(new P.RequestType0('sparkd/stats'));
  const c = stats.completions || {};
  check('sparkd/stats: the Copilot notifications were counted (shown, partial accepts)',
    c.shown >= 1 && c.partial_accepts >= 1, JSON.stringify({ shown: c.shown, partial_accepts: c.partial_accepts }));
  check('sparkd/stats: settings from didChangeConfiguration applied (n_predict 20)', stats.config?.n_predict === 20,
    JSON.stringify(stats.config));
  const known = new Set(Object.keys(stats.config || {}));
  const mirrored = new Set(settingsMod.SERVER_SETTINGS.map((x) => x.name));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'editors', 'vscode', 'package.json'), 'utf8'));
  const contributed = new Set(Object.keys(pkg.contributes.configuration.properties).map((k) => k.replace(/^sparkd\./, '')));
  const missing = [...known].filter((k) => !mirrored.has(k) || !contributed.has(k));
  check('VS Code extension: every sparkd setting has a sparkd.* setting in package.json', !missing.length,
    `not mirrored: ${missing.join(', ')}`);
  await s.notify(P.DidCloseTextDocumentNotification.type, { textDocument: { uri: doc.uri } });
  await s.close();
}

// ---------------------------------------------------------------- session 2: fallback
async function fallbackSession() {
  const s = new Session('fallback', modelArgs);
  const noInline = JSON.parse(JSON.stringify(caps));
  delete noInline.textDocument.inlineCompletion;
  const init = await s.request(P.InitializeRequest.type, { processId: process.pid, rootUri: null,
    capabilities: noInline, clientInfo: { name: 'Visual Studio Code', version: '1.80.0' } });
  const cp = init.capabilities.completionProvider;
  check('fallback: completionProvider advertised to a client without inline completion', !!cp, JSON.stringify(init.capabilities));
  await s.notify(P.InitializedNotification.type, {});
  const doc = new Doc(s, 'util.py', 'python', 'def square(x):\n    return |\n\nprint(square(3))\n');
  await doc.open();
  const ask = (pos) => [P.CompletionRequest.type, { textDocument: { uri: doc.uri }, position: pos,
    context: { triggerKind: P.CompletionTriggerKind.Invoked } }];
  const extract = (r) => {
    const items = Array.isArray(r) ? r : r?.items;
    const it = items && items.find((x) => (x.textEdit?.newText ?? x.insertText ?? x.label));
    return it ? { item: it, text: it.textEdit?.newText ?? it.insertText ?? it.label } : null;
  };
  const got = await askUntilText(s, doc, ask, extract, 'completion');
  if (check('fallback: textDocument/completion gives a non-empty item', !!got)) {
    const te = got.item.textEdit;
    const range = te && (te.range || te.insert);
    check('fallback: item.textEdit range is the cursor', range && samePos(range.start, got.pos) && samePos(range.end, got.pos),
      JSON.stringify(te));
  }
  await s.close();
}

// ---------------------------------------------------------------- the extension itself
// editors/vscode/src/extension.js activated in a fake VS Code host (settings,
// output, status bar, commands real; the rest inert) with its own
// node_modules: vscode-languageclient really starts sparkd over stdio.
async function extensionActivation() {
  const extDir = path.join(root, 'editors', 'vscode');
  const extRequire = createRequire(path.join(extDir, 'package.json'));
  try { extRequire.resolve('vscode-languageclient/node'); } catch {
    console.log('skip extension activation: editors/vscode/node_modules is missing (tests/editors/setup.sh)');
    return;
  }
  const { makeHost, withHost } = require('./vscode_fake_host.cjs');
  const pkg = JSON.parse(fs.readFileSync(path.join(extDir, 'package.json'), 'utf8'));
  const values = {};
  for (const [k, v] of Object.entries(pkg.contributes.configuration.properties)) values[k] = v.default;
  Object.assign(values, { 'sparkd.path': bin, 'sparkd.model': model, 'sparkd.draft': 'none', 'sparkd.n_predict': 16 });
  const { vscode, rec } = makeHost(values);
  const ext = withHost(vscode, () => extRequire(path.join(extDir, 'src', 'extension.js')));
  const ctx = { extensionPath: extDir, subscriptions: [] };
  await within(withHost(vscode, () => ext.activate(ctx)), 'extension activate');
  const item = () => rec.statusItems[0] || {};
  const until = async (cond, ms = TIMEOUT_MS) => {
    const end = Date.now() + ms;
    while (Date.now() < end && !cond()) await new Promise((r) => setTimeout(r, 25));
    return cond();
  };
  await until(() => /sparkd: ready/.test(item().tooltip || ''));
  check('extension: activates, starts sparkd with its settings as flags',
    rec.log.some((l) => l.startsWith(`starting: ${bin} lsp --model=${model} --draft=none`)), rec.log.slice(0, 3).join(' | '));
  check('extension: status bar shows the state from sparkd/stats', item().visible && /sparkd/.test(item().text) &&
    /sparkd: ready/.test(item().tooltip), JSON.stringify(item()));
  check('extension: vscode-languageclient registered an inline completion provider for sparkd',
    rec.providers.some((p) => p.kind === 'registerInlineCompletionItemProvider'), rec.providers.map((p) => p.kind).join(', '));
  check('extension: commands registered', ['sparkd.restart', 'sparkd.stats', 'sparkd.toggle', 'sparkd.showLog', 'sparkd.didAccept']
    .every((c) => rec.commands.has(c)) && pkg.contributes.commands.every((c) => rec.commands.has(c.command)));
  // A runtime setting: sent as didChangeConfiguration, no restart.
  values['sparkd.n_predict'] = 12;
  const event = (key) => ({ affectsConfiguration: (s) => key === s || key.startsWith(`${s}.`) });
  for (const fn of rec.configListeners) await fn(event('sparkd.n_predict'));
  await rec.commands.get('sparkd.stats')();
  const statsLine = () => rec.log.filter((l) => l.startsWith('sparkd/stats: ')).pop() || '';
  check('extension: a changed runtime setting reaches sparkd without a restart',
    /"n_predict": 12/.test(statsLine()) && !rec.log.some((l) => l.includes('restarting')), statsLine().slice(0, 200));
  // A start-up setting: restarts the server with the new flag.
  values['sparkd.threads'] = 1;
  for (const fn of rec.configListeners) await fn(event('sparkd.threads'));
  await until(() => rec.log.some((l) => l.includes('--threads=1')) && /sparkd: ready/.test(item().tooltip || ''));
  check('extension: a changed start-up setting restarts sparkd with the new flag',
    rec.log.some((l) => l.includes('restarting sparkd')) && rec.log.some((l) => l.startsWith('starting: ') && l.includes('--threads=1')),
    rec.log.filter((l) => /starting|restarting/.test(l)).join(' | '));
  check('extension: no error shown to the user', !rec.errors.length, rec.errors.join(' | '));
  await within(Promise.resolve(ext.deactivate()), 'extension deactivate');
  check('extension: deactivate stops sparkd', /circle-slash/.test(item().text), item().text);
}

try {
  await vscodeSession();
  await fallbackSession();
  await extensionActivation();
} catch (e) {
  check('no exception', false, e.stack || String(e));
}
console.log(`test_vscode_protocol: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
