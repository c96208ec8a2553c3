// settings.js — VS Code settings <-> sparkd settings. No `vscode` import here:
// tests/editors/test_vscode_protocol.mjs loads this file as it is.
//
// The sparkd.* settings that sparkd itself understands carry sparkd's own
// snake_case names (sparkd.n_predict, sparkd.debounce_ms, ...), so what the
// extension sends is exactly what `sparkd lsp` documents. A setting left at
// null (or "") is not sent: sparkd keeps its own default.
'use strict';

// Every setting of `sparkd lsp` (server/srv_config.c), in the same order.
// restart: the server reads it once at start-up (model loading, log file).
const SERVER_SETTINGS = [
  { name: 'log_level', restart: false },
  { name: 'log_file', restart: true },
  { name: 'max_message', restart: true },
  { name: 'model', restart: true },
  { name: 'draft', restart: true },
  { name: 'device', restart: true },
  { name: 'cache', restart: true },
  { name: 'no_cache', restart: true },
  { name: 'threads', restart: true },
  { name: 'n_predict', restart: false },
  { name: 'temp', restart: false },
  { name: 'seed', restart: false },
  { name: 'debounce_ms', restart: false },
  { name: 'no_engine', restart: true },
  { name: 'fim_order', restart: true },
  { name: 'cache_size', restart: true },
  { name: 'max_open_documents', restart: false },
  { name: 'max_open_bytes', restart: false },
  { name: 'cache_mem', restart: true },
  { name: 'quick_start_tokens', restart: false },
  { name: 'timeout_ms', restart: false },
];

// Settings of the extension itself (never sent to the server).
const CLIENT_SETTINGS = ['enable', 'path', 'args', 'documentSelector', 'statusBar', 'trace.server'];

// get(name) returns the value of `sparkd.<name>` (undefined or null: unset).
// Returns the object sent as initializationOptions and, under a "sparkd" key,
// as workspace/didChangeConfiguration settings.
function serverSettings(get) {
  const out = {};
  for (const { name } of SERVER_SETTINGS) {
    const v = get(name);
    if (v === undefined || v === null || v === '') continue;
    out[name] = v;
  }
  return out;
}

// The command-line arguments for the settings sparkd reads once at start-up
// (model loading, log file): `sparkd lsp` loads its engine before the client's
// initializationOptions arrive, so these go on the command line, as
// `--name=value` (sparkd accepts every setting that way; switches alone).
function serverArgs(get) {
  const args = [];
  for (const { name, restart } of SERVER_SETTINGS) {
    if (!restart) continue;
    const v = get(name);
    if (v === undefined || v === null || v === '' || v === false) continue;
    const flag = `--${name.replace(/_/g, '-')}`;
    args.push(v === true ? flag : `${flag}=${v}`);
  }
  return args;
}

// The settings sent as initializationOptions and didChangeConfiguration: the
// ones sparkd applies while running.
function runtimeSettings(get) {
  const all = serverSettings(get);
  for (const { name, restart } of SERVER_SETTINGS) if (restart) delete all[name];
  return all;
}

// Names whose change needs a server restart, between two serverSettings().
function needsRestart(before, after) {
  return SERVER_SETTINGS.filter((s) => s.restart && JSON.stringify(before[s.name]) !== JSON.stringify(after[s.name]))
    .map((s) => s.name);
}

// The status bar text and tooltip from a sparkd/stats answer and the last
// round-trip latency the extension measured (ms, or null).
function statusText(state, stats, lastMs) {
  if (state === 'starting') return { text: '$(sync~spin) sparkd', tooltip: 'sparkd: starting' };
  if (state === 'stopped') return { text: '$(circle-slash) sparkd', tooltip: 'sparkd: stopped' };
  if (state === 'error') return { text: '$(error) sparkd', tooltip: 'sparkd: the server failed; see the sparkd output' };
  const model = stats && typeof stats.model === 'string' ? stats.model : 'unknown';
  const ready = model === 'ready';
  const c = (stats && stats.completions) || {};
  const lat = c.latency || {};
  const ms = (us) => (typeof us === 'number' ? `${(us / 1000).toFixed(us < 10000 ? 1 : 0)} ms` : '-');
  const last = typeof lastMs === 'number' ? `${Math.round(lastMs)} ms` : '-';
  const tooltip = [
    `sparkd: ${ready ? 'ready' : model}`,
    `last completion: ${last} (round trip)`,
    `server latency p50 ${ms(lat.p50_us)}, p99 ${ms(lat.p99_us)} over ${lat.count || 0}`,
    `answered ${c.answered || 0} of ${c.requests || 0} requests` +
      (c.empty ? `, ${c.empty} empty` : ''),
    `draft acceptance ${Math.round(100 * (c.acceptance_rate || 0))}%`,
  ].join('\n');
  const icon = ready ? '$(sparkle)' : '$(warning)';
  return { text: `${icon} sparkd ${ready ? last : ''}`.trim(), tooltip };
}

module.exports = { SERVER_SETTINGS, CLIENT_SETTINGS, serverSettings, serverArgs, runtimeSettings, needsRestart, statusText };
