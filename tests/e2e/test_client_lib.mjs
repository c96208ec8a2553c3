// test_client_lib.mjs — `sparkd lsp` driven by a real third-party LSP client
// library: vscode-jsonrpc (the transport under VS Code's language client),
// installed by tests/e2e/setup-node.sh into tests/e2e/node_modules.
//
// It checks that what the library writes is understood and what sparkd writes
// is parsed by the library: initialize/initialized, didOpen/didChange with
// UTF-16 positions, sparkd/stats, an unknown method (ResponseError -32601),
// $/cancelRequest from a cancelled token, shutdown (null) and exit (status 0).
//
// Run: SPARKD_BIN=build-e2e/sparkd node tests/e2e/test_client_lib.mjs
// Exit status: 0 all passed, 1 a check failed, 77 skipped (library missing).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';

const require = createRequire(import.meta.url);
let rpc;
try {
  rpc = require('vscode-jsonrpc/node');
} catch (e) {
  console.log('SKIP: vscode-jsonrpc is not installed (run tests/e2e/setup-node.sh)');
  process.exit(77);
}
const LIB_VERSION = require('vscode-jsonrpc/package.json').version;

const TIMEOUT_MS = 30000;   // generous: the ASan build on a busy 2-core machine
const bin = process.env.SPARKD_BIN;
if (!bin) {
  console.error('SPARKD_BIN is not set');
  process.exit(1);
}

let passed = 0;
let failed = 0;
function check(name, cond, detail = '') {
  if (cond) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
  }
  return cond;
}

function within(promise, what, ms = TIMEOUT_MS) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

const child = spawn(bin, ['lsp', '--log-level', 'debug'], { stdio: ['pipe', 'pipe', 'pipe'] });
let stderr = '';
child.stderr.setEncoding('utf8');
child.stderr.on('data', (d) => { stderr += d; });
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

// Record what the library puts on the wire, on its way to the server.
const wire = [];
const tee = new PassThrough();
tee.on('data', (d) => wire.push(Buffer.from(d)));
tee.pipe(child.stdin);
child.stdin.on('error', () => {});   // EPIPE after exit is not a test failure

const connection = rpc.createMessageConnection(
  new rpc.StreamMessageReader(child.stdout),
  new rpc.StreamMessageWriter(tee));
const unhandled = [];
connection.onUnhandledNotification((n) => unhandled.push(n.method));
let connErrors = 0;
connection.onError((e) => { connErrors++; console.log(`connection error: ${e[0] && e[0].message}`); });
connection.listen();

async function main() {
  console.log(`client library: vscode-jsonrpc ${LIB_VERSION}`);
  const init = await within(connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    clientInfo: { name: 'vscode-jsonrpc e2e', version: LIB_VERSION },
    capabilities: { general: { positionEncodings: ['utf-16'] } },
  }), 'initialize');
  check('initialize: result parsed by the library', init && typeof init === 'object');
  check('initialize: positionEncoding utf-16', init.capabilities?.positionEncoding === 'utf-16',
    JSON.stringify(init.capabilities));
  check('initialize: incremental sync (change = 2)', init.capabilities?.textDocumentSync?.change === 2);
  check('initialize: serverInfo.name sparkd', init.serverInfo?.name === 'sparkd', JSON.stringify(init.serverInfo));

  const first = Buffer.concat(wire).toString('latin1');
  const m = /^Content-Length: (\d+)\r\n\r\n/.exec(first);
  check('wire: the library framed initialize with Content-Length', m !== null, JSON.stringify(first.slice(0, 60)));

  await connection.sendNotification('initialized', {});
  const uri = 'file:///tmp/sparkd-e2e/lib.ts';
  await connection.sendNotification('textDocument/didOpen', {
    textDocument: { uri, languageId: 'typescript', version: 1, text: 'const s = "😀";\r\nlet x = 1;\n' },
  });
  // "😀" is two UTF-16 units: column 13 is right after it.
  await connection.sendNotification('textDocument/didChange', {
    textDocument: { uri, version: 2 },
    contentChanges: [{ range: { start: { line: 0, character: 13 }, end: { line: 0, character: 13 } }, text: '🎉' }],
  });
  const st = await within(connection.sendRequest('sparkd/stats'), 'sparkd/stats');
  check('sparkd/stats: one document open', st.documents === 1, JSON.stringify(st));
  check('sparkd/stats: 3 notifications, 1 request, no errors, no bad frames',
    st.notifications === 3 && st.requests === 1 && st.errors === 0 && st.bad_frames === 0,
    JSON.stringify({ n: st.notifications, r: st.requests, e: st.errors, b: st.bad_frames }));
  check('didChange: no warning logged (position inside the line, not clamped)',
    !/ warn /.test(stderr), stderr.split('\n').filter((l) => / warn /.test(l)).join(' | '));

  // Line 0 is now 'const s = "😀🎉";': 17 UTF-16 units. No-op edits at columns
  // 17 and 18: only the second is past the end, and sparkd logs it as clamped.
  const probe = (c) => ({ range: { start: { line: 0, character: c }, end: { line: 0, character: c } }, text: '' });
  await connection.sendNotification('textDocument/didChange', {
    textDocument: { uri, version: 3 }, contentChanges: [probe(17), probe(18)],
  });
  await connection.sendNotification('e2e/marker');   // logged after the probe's warnings
  const t0 = Date.now();
  while (!stderr.includes("'e2e/marker'") && Date.now() - t0 < TIMEOUT_MS) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const clamped = [...stderr.matchAll(/contentChanges\[(\d+)\] range is past the end/g)].map((x) => x[1]);
  check('didChange: UTF-16 columns (surrogate pairs count 2) as the library sent them',
    clamped.join(',') === '1', `clamped probes: [${clamped}]`);

  let err = null;
  try {
    await within(connection.sendRequest('sparkd/noSuchMethod', { a: 1 }), 'unknown method');
  } catch (e) {
    err = e;
  }
  check('unknown method: the library raises ResponseError -32601',
    err instanceof rpc.ResponseError && err.code === rpc.ErrorCodes.MethodNotFound,
    err ? `${err.constructor.name} ${err.code} ${err.message}` : 'no error');

  // A cancelled token makes the library send $/cancelRequest; the answer (sparkd
  // has already replied) is still delivered.
  const cts = new rpc.CancellationTokenSource();
  const p = connection.sendRequest('sparkd/stats', cts.token);
  cts.cancel();
  let afterCancel;
  try {
    afterCancel = await within(p, 'cancelled sparkd/stats');
  } catch (e) {
    afterCancel = e;
  }
  check('cancelled request: still settles', afterCancel !== undefined);
  const st2 = await within(connection.sendRequest('sparkd/stats'), 'sparkd/stats');
  check('$/cancelRequest counted in sparkd/stats', st2.cancel_requests === 1, JSON.stringify(st2));
  check('no $/logTrace or other unexpected notification', unhandled.length === 0, unhandled.join(','));

  const down = await within(connection.sendRequest('shutdown'), 'shutdown');
  check('shutdown: result null', down === null, JSON.stringify(down));
  await connection.sendNotification('exit');
  const { code, signal } = await within(exited, 'process exit');
  check('exit: process exit status 0', code === 0, `code ${code} signal ${signal}`);
  check('no connection errors', connErrors === 0);
  check('no sanitizer report on stderr', !/Sanitizer|runtime error:/.test(stderr));
}

let crashed = null;
try {
  await main();
} catch (e) {
  crashed = e;
}
check('test ran to the end', crashed === null, crashed && crashed.stack);
connection.dispose();
if (child.exitCode === null) child.kill('SIGKILL');
console.log(`test_client_lib: ${passed} passed, ${failed} failed`);
if (failed) console.log(stderr.split('\n').slice(-15).join('\n'));
process.exit(failed ? 1 : 0);
