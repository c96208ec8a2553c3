// scripts/bundle.js — copies the sparkd binary (and the bundled models, when
// present) into the extension folder, so that the .vsix carries them:
//   bin/sparkd, models/sparkd-main.gguf, models/sparkd-draft.gguf
// sparkd finds models in ../models beside its binary. Run before packaging:
//   npm run bundle-binary && npx @vscode/vsce package
// SPARKD_BIN overrides the binary (default: ../../build/sparkd).
'use strict';
const fs = require('fs');
const path = require('path');

const ext = path.resolve(__dirname, '..');
const repo = path.resolve(ext, '..', '..');
const bin = process.env.SPARKD_BIN || path.join(repo, 'build', 'sparkd');
if (!fs.existsSync(bin)) {
  console.error(`bundle: no sparkd binary at ${bin}: run ./setup.sh in the repository first`);
  process.exit(1);
}
fs.mkdirSync(path.join(ext, 'bin'), { recursive: true });
fs.copyFileSync(bin, path.join(ext, 'bin', 'sparkd'));
fs.chmodSync(path.join(ext, 'bin', 'sparkd'), 0o755);
console.log(`bundle: bin/sparkd <- ${bin}`);
for (const m of ['sparkd-main.gguf', 'sparkd-draft.gguf']) {
  const src = path.join(repo, 'models', m);
  if (!fs.existsSync(src)) { console.log(`bundle: ${m} not found in models/ (the extension will need sparkd.model)`); continue; }
  fs.mkdirSync(path.join(ext, 'models'), { recursive: true });
  fs.copyFileSync(src, path.join(ext, 'models', m));
  console.log(`bundle: models/${m}`);
}
