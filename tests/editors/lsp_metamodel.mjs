// lsp_metamodel.mjs — the LSP meta-model, read from the type declarations that
// vscode-languageserver-protocol ships, and a validator for JSON values.
//
// The npm package ships only metaModel.schema.json (the schema *of* the
// meta-model), not metaModel.json itself, so this module derives the same
// information from the package's own .d.ts files with the TypeScript compiler:
// every request and notification (`namespace XRequest { const method: '…';
// const type: ProtocolRequestType<Params, Result, …> }`), every structure
// (interfaces with their `extends`), type alias, enumeration (unions of
// literals) and the base types integer / uinteger / decimal / URI /
// DocumentUri. It follows the declarations as written (type nodes), so
// `line: uinteger` is checked as an unsigned 31-bit integer, not just a number.
//
//   const mm = loadMetaModel(require);          // require resolving the npm packages
//   mm.request('textDocument/inlineCompletion') // { params, result, errorData }
//   mm.validate(value, mm.request(m).result)    // [] or a list of 'path: problem'
import fs from 'node:fs';
import path from 'node:path';

// The folder of an installed package (its package.json may not be exported).
export function packageDir(require, name) {
  let d = path.dirname(require.resolve(name));
  while (d !== path.dirname(d)) {
    const pj = path.join(d, 'package.json');
    if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === name) return d;
    d = path.dirname(d);
  }
  throw new Error(`cannot find the folder of ${name}`);
}
export const packageVersion = (require, name) =>
  JSON.parse(fs.readFileSync(path.join(packageDir(require, name), 'package.json'), 'utf8')).version;

const BASE = new Set(['integer', 'uinteger', 'decimal', 'URI', 'DocumentUri']);
const INT_MIN = -(2 ** 31), INT_MAX = 2 ** 31 - 1;

export function loadMetaModel(require) {
  const ts = require('typescript');
  const protoDir = packageDir(require, 'vscode-languageserver-protocol');
  const entry = path.join(protoDir, 'lib', 'common', 'api.d.ts');
  const program = ts.createProgram([entry], {
    noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16,
  });
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(entry);
  if (!sf) throw new Error(`cannot read ${entry}`);

  const resolveSymbol = (node) => {
    let s = checker.getSymbolAtLocation(node);
    if (s && (s.flags & ts.SymbolFlags.Alias)) s = checker.getAliasedSymbol(s);
    return s;
  };
  const nameOf = (n) => (ts.isIdentifier(n) ? n.text : n.right.text);

  // -------------------------------------------------------------- type nodes -> model types
  // env: Map of type-parameter name -> model type (for generic declarations).
  function convert(node, env) {
    if (!node) return { kind: 'base', name: 'any' };
    switch (node.kind) {
      case ts.SyntaxKind.StringKeyword: return { kind: 'base', name: 'string' };
      case ts.SyntaxKind.NumberKeyword: return { kind: 'base', name: 'decimal' };
      case ts.SyntaxKind.BooleanKeyword: return { kind: 'base', name: 'boolean' };
      case ts.SyntaxKind.AnyKeyword:
      case ts.SyntaxKind.UnknownKeyword: return { kind: 'base', name: 'any' };
      case ts.SyntaxKind.ObjectKeyword: return { kind: 'base', name: 'object' };
      case ts.SyntaxKind.NullKeyword: return { kind: 'base', name: 'null' };
      case ts.SyntaxKind.UndefinedKeyword:
      case ts.SyntaxKind.VoidKeyword: return { kind: 'base', name: 'void' };
      case ts.SyntaxKind.NeverKeyword: return { kind: 'base', name: 'never' };
      case ts.SyntaxKind.ParenthesizedType: return convert(node.type, env);
      case ts.SyntaxKind.TypeOperator: return convert(node.type, env);   // readonly T[]
      case ts.SyntaxKind.ArrayType: return { kind: 'array', element: convert(node.elementType, env) };
      case ts.SyntaxKind.TupleType:
        return { kind: 'tuple', items: node.elements.map((e) => convert(e.type ?? e, env)) };
      case ts.SyntaxKind.UnionType: return { kind: 'or', items: node.types.map((t) => convert(t, env)) };
      case ts.SyntaxKind.IntersectionType: return { kind: 'and', items: node.types.map((t) => convert(t, env)) };
      case ts.SyntaxKind.LiteralType: {
        const l = node.literal;
        if (l.kind === ts.SyntaxKind.NullKeyword) return { kind: 'base', name: 'null' };
        if (l.kind === ts.SyntaxKind.TrueKeyword) return { kind: 'booleanLiteral', value: true };
        if (l.kind === ts.SyntaxKind.FalseKeyword) return { kind: 'booleanLiteral', value: false };
        if (ts.isStringLiteral(l)) return { kind: 'stringLiteral', value: l.text };
        if (ts.isNumericLiteral(l)) return { kind: 'integerLiteral', value: Number(l.text) };
        if (ts.isPrefixUnaryExpression(l) && l.operator === ts.SyntaxKind.MinusToken)
          return { kind: 'integerLiteral', value: -Number(l.operand.text) };
        return { kind: 'base', name: 'any' };
      }
      case ts.SyntaxKind.TypeLiteral: return literalStructure(node.members, env);
      case ts.SyntaxKind.TypeReference: return reference(node, env);
      default: return { kind: 'base', name: 'any', note: ts.SyntaxKind[node.kind] };
    }
  }

  function literalStructure(members, env) {
    const properties = [];
    let index = null;
    for (const m of members) {
      if (ts.isPropertySignature(m)) {
        properties.push({ name: m.name.text ?? m.name.getText(), optional: !!m.questionToken, type: convert(m.type, env) });
      } else if (ts.isIndexSignatureDeclaration(m)) {
        index = convert(m.type, env);
      }
    }
    return { kind: 'literal', properties, index };
  }

  function reference(node, env) {
    const name = nameOf(node.typeName);
    const args = (node.typeArguments || []).map((a) => convert(a, env));
    if (ts.isIdentifier(node.typeName) && env && env.has(name)) return env.get(name);
    if (BASE.has(name)) return { kind: 'base', name };
    if (name === 'LSPAny') return { kind: 'base', name: 'any' };
    if (name === 'LSPObject') return { kind: 'base', name: 'object' };
    if (name === 'LSPArray') return { kind: 'array', element: { kind: 'base', name: 'any' } };
    if ((name === 'Array' || name === 'ReadonlyArray') && args.length === 1) return { kind: 'array', element: args[0] };
    if (name === 'Record' && args.length === 2) return { kind: 'map', key: args[0], value: args[1] };
    const sym = resolveSymbol(node.typeName);
    if (!sym) return { kind: 'base', name: 'any', note: `unresolved ${name}` };
    if (sym.flags & ts.SymbolFlags.TypeParameter) return { kind: 'base', name: 'any' };
    return { kind: 'reference', name, sym, args };
  }

  // Declared structure of a reference (cached per symbol when not generic).
  const cache = new Map();
  function resolve(ref) {
    const key = ref.args.length ? null : ref.sym;
    if (key && cache.has(key)) return cache.get(key);
    const decls = ref.sym.declarations || [];
    const iface = decls.filter(ts.isInterfaceDeclaration);
    const alias = decls.find(ts.isTypeAliasDeclaration);
    const cls = decls.find(ts.isClassDeclaration);
    let out;
    if (iface.length) {
      out = { kind: 'structure', name: ref.name, properties: [], index: null };
      if (key) cache.set(key, out);   // before filling: recursive structures
      fillStructure(out, iface, ref.args);
    } else if (alias) {
      const env = bindParams(alias.typeParameters, ref.args, null);
      out = { kind: 'alias', name: ref.name, type: convert(alias.type, env) };
      if (key) cache.set(key, out);
    } else if (cls) {
      out = { kind: 'base', name: 'any', note: `class ${ref.name}` };
    } else {
      out = { kind: 'base', name: 'any', note: `no declaration for ${ref.name}` };
    }
    return out;
  }

  function bindParams(params, args, outer) {
    const env = new Map(outer || []);
    (params || []).forEach((p, i) => {
      env.set(p.name.text, args[i] ?? (p.default ? convert(p.default, outer) : { kind: 'base', name: 'any' }));
    });
    return env;
  }

  function fillStructure(out, decls, args) {
    const seen = new Map();
    const add = (p) => { if (!seen.has(p.name)) { seen.set(p.name, p); out.properties.push(p); } };
    for (const d of decls) {
      const env = bindParams(d.typeParameters, args, null);
      for (const m of d.members) {
        if (ts.isPropertySignature(m)) {
          add({ name: m.name.text ?? m.name.getText(), optional: !!m.questionToken, type: convert(m.type, env) });
        } else if (ts.isIndexSignatureDeclaration(m)) {
          out.index = convert(m.type, env);
        }
      }
      for (const h of d.heritageClauses || []) {
        for (const t of h.types) {
          const sym = resolveSymbol(t.expression);
          if (!sym) continue;
          const base = resolve({ name: t.expression.getText(), sym, args: (t.typeArguments || []).map((a) => convert(a, env)) });
          if (base.kind === 'structure') {
            base.properties.forEach(add);
            if (base.index && !out.index) out.index = base.index;
          }
        }
      }
    }
  }

  // -------------------------------------------------------------- requests and notifications
  const requests = new Map(), notifications = new Map();
  const walk = (file) => {
    ts.forEachChild(file, (st) => {
      if (!ts.isModuleDeclaration(st) || !st.body || !ts.isModuleBlock(st.body)) return;
      let method = null, typeNode = null;
      for (const s of st.body.statements) {
        if (!ts.isVariableStatement(s)) continue;
        for (const d of s.declarationList.declarations) {
          if (d.name.text === 'method' && d.type && ts.isLiteralTypeNode(d.type) && ts.isStringLiteral(d.type.literal))
            method = d.type.literal.text;
          if (d.name.text === 'type' && d.type && ts.isTypeReferenceNode(d.type)) typeNode = d.type;
        }
      }
      if (!method || !typeNode) return;
      const kind = nameOf(typeNode.typeName);
      const a = typeNode.typeArguments || [];
      const c = (i) => (a[i] ? convert(a[i], null) : undefined);
      if (kind === 'ProtocolRequestType') requests.set(method, { namespace: st.name.text, params: c(0), result: c(1), partialResult: c(2), errorData: c(3) });
      else if (kind === 'ProtocolRequestType0') requests.set(method, { namespace: st.name.text, params: undefined, result: c(0), partialResult: c(1), errorData: c(2) });
      else if (kind === 'ProtocolNotificationType') notifications.set(method, { namespace: st.name.text, params: c(0) });
      else if (kind === 'ProtocolNotificationType0') notifications.set(method, { namespace: st.name.text, params: undefined });
    });
  };
  for (const f of program.getSourceFiles())
    if (f.fileName.includes('vscode-languageserver-protocol') && f.fileName.endsWith('.d.ts')) walk(f);
  // $/cancelRequest, $/progress, $/setTrace, $/logTrace live in vscode-jsonrpc / the protocol's
  // connection module as plain NotificationType declarations: the spec's shapes, named here.
  const named = (n) => typeByName(n);

  function typeByName(name) {
    // Any exported declaration of the protocol package's API, by name.
    const msym = checker.getSymbolAtLocation(sf);
    const exp = checker.getExportsOfModule(msym).find((e) => e.name === name);
    if (!exp) throw new Error(`no exported type ${name}`);
    const sym = (exp.flags & ts.SymbolFlags.Alias) ? checker.getAliasedSymbol(exp) : exp;
    return { kind: 'reference', name, sym, args: [] };
  }
  for (const [m, p] of [['$/cancelRequest', 'CancelParams'], ['$/setTrace', 'SetTraceParams'],
    ['$/logTrace', 'LogTraceParams'], ['$/progress', 'ProgressParams']]) {
    if (!notifications.has(m)) {
      try { notifications.set(m, { namespace: '(base protocol)', params: named(p) }); } catch { /* absent */ }
    }
  }

  // -------------------------------------------------------------- validation
  function deref(t) {
    let seen = 0;
    while (t && (t.kind === 'reference' || t.kind === 'alias')) {
      t = t.kind === 'reference' ? resolve(t) : t.type;
      if (++seen > 64) break;
    }
    return t;
  }
  const describe = (t) => {
    if (!t) return '?';
    if (t.kind === 'reference') return t.name;
    if (t.kind === 'base') return t.name;
    if (t.kind === 'array') return `${describe(t.element)}[]`;
    if (t.kind === 'or') return t.items.map(describe).join(' | ');
    if (t.kind === 'and') return t.items.map(describe).join(' & ');
    if (t.kind === 'stringLiteral') return JSON.stringify(t.value);
    if (t.kind === 'integerLiteral' || t.kind === 'booleanLiteral') return String(t.value);
    return t.kind;
  };
  const show = (v) => { const s = JSON.stringify(v); return s === undefined ? 'undefined' : s.length > 60 ? s.slice(0, 57) + '...' : s; };

  // Properties of a type when it is an object shape (structure, literal, or an
  // `and` of such): used for the unknown-property check across intersections.
  function shapeOf(t) {
    t = deref(t);
    if (!t) return null;
    if (t.kind === 'structure' || t.kind === 'literal') return { props: t.properties, index: t.index };
    if (t.kind === 'and') {
      const props = [];
      let index = null;
      for (const it of t.items) {
        const s = shapeOf(it);
        if (!s) return null;
        props.push(...s.props);
        index = index || s.index;
      }
      return { props, index };
    }
    return null;
  }

  function check(v, t, p, errs, depth) {
    if (depth > 200) { errs.push(`${p}: nested too deep`); return; }
    const name = t && t.kind === 'reference' ? t.name : null;
    t = deref(t);
    if (!t) return;
    switch (t.kind) {
      case 'base':
        switch (t.name) {
          case 'any': if (v === undefined) errs.push(`${p}: missing`); return;
          case 'string': case 'URI': case 'DocumentUri':
            if (typeof v !== 'string') errs.push(`${p}: expected ${t.name}, got ${show(v)}`);
            return;
          case 'integer':
            if (!Number.isInteger(v) || v < INT_MIN || v > INT_MAX) errs.push(`${p}: expected integer, got ${show(v)}`);
            return;
          case 'uinteger':
            if (!Number.isInteger(v) || v < 0 || v > INT_MAX) errs.push(`${p}: expected uinteger, got ${show(v)}`);
            return;
          case 'decimal': if (typeof v !== 'number') errs.push(`${p}: expected a number, got ${show(v)}`); return;
          case 'boolean': if (typeof v !== 'boolean') errs.push(`${p}: expected boolean, got ${show(v)}`); return;
          case 'null': if (v !== null) errs.push(`${p}: expected null, got ${show(v)}`); return;
          case 'void': if (v !== undefined && v !== null) errs.push(`${p}: expected nothing, got ${show(v)}`); return;
          case 'object': if (!v || typeof v !== 'object' || Array.isArray(v)) errs.push(`${p}: expected an object, got ${show(v)}`); return;
          case 'never': errs.push(`${p}: no value is allowed here, got ${show(v)}`); return;
          default: return;
        }
      case 'stringLiteral': case 'integerLiteral': case 'booleanLiteral':
        if (v !== t.value) errs.push(`${p}: expected ${JSON.stringify(t.value)}, got ${show(v)}`);
        return;
      case 'array':
        if (!Array.isArray(v)) { errs.push(`${p}: expected an array (${describe(t)}), got ${show(v)}`); return; }
        v.forEach((x, i) => check(x, t.element, `${p}[${i}]`, errs, depth + 1));
        return;
      case 'tuple':
        if (!Array.isArray(v) || v.length !== t.items.length) { errs.push(`${p}: expected a ${t.items.length}-tuple, got ${show(v)}`); return; }
        v.forEach((x, i) => check(x, t.items[i], `${p}[${i}]`, errs, depth + 1));
        return;
      case 'map':
        if (!v || typeof v !== 'object' || Array.isArray(v)) { errs.push(`${p}: expected a map, got ${show(v)}`); return; }
        for (const [k, x] of Object.entries(v)) check(x, t.value, `${p}[${JSON.stringify(k)}]`, errs, depth + 1);
        return;
      case 'or': {
        // Literal enumerations: one message naming the allowed values.
        const items = t.items.map(deref);
        if (items.every((i) => i.kind.endsWith('Literal'))) {
          if (!items.some((i) => i.value === v))
            errs.push(`${p}: ${show(v)} is not one of ${items.map((i) => JSON.stringify(i.value)).join(', ')}${name ? ` (${name})` : ''}`);
          return;
        }
        // Report the alternative that fits best; one whose very shape differs
        // (an array for an object, null for a string) fits worst.
        let best = null, bestScore = Infinity;
        for (const it of t.items) {
          const e = [];
          check(v, it, p, e, depth + 1);
          if (!e.length) return;
          const score = e.length === 1 && e[0].startsWith(`${p}: `) ? 1e9 : e.length;
          if (score < bestScore) { best = e; bestScore = score; }
        }
        errs.push(`${p}: matches none of ${describe(t)}; the closest fails with: ${best.join('; ')}`);
        return;
      }
      case 'and': {
        for (const it of t.items) checkObject(v, it, p, errs, depth, false);
        const s = shapeOf(t);
        if (s && v && typeof v === 'object' && !s.index) {
          const known = new Set(s.props.map((x) => x.name));
          for (const k of Object.keys(v)) if (!known.has(k)) errs.push(`${p}.${k}: unknown property (not in ${describe(t)})`);
        }
        return;
      }
      case 'structure': case 'literal':
        checkObject(v, t, p, errs, depth, true, name || t.name);
        return;
      default:
        errs.push(`${p}: cannot check type kind ${t.kind}`);
    }
  }

  function checkObject(v, t, p, errs, depth, strict, label) {
    const d = deref(t);
    if (d.kind !== 'structure' && d.kind !== 'literal') { check(v, t, p, errs, depth + 1); return; }
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      errs.push(`${p}: expected an object (${label || d.name || 'literal'}), got ${show(v)}`);
      return;
    }
    const known = new Set();
    for (const prop of d.properties) {
      known.add(prop.name);
      const x = v[prop.name];
      if (x === undefined) {
        if (!prop.optional) errs.push(`${p}.${prop.name}: required property missing${label ? ` (${label})` : ''}`);
        continue;
      }
      check(x, prop.type, `${p}.${prop.name}`, errs, depth + 1);
    }
    if (d.index) {
      for (const [k, x] of Object.entries(v)) if (!known.has(k)) check(x, d.index, `${p}.${k}`, errs, depth + 1);
    } else if (strict) {
      for (const k of Object.keys(v)) if (!known.has(k)) errs.push(`${p}.${k}: unknown property (not in ${label || 'literal'})`);
    }
  }

  return {
    version: packageVersion(require, 'vscode-languageserver-protocol'),
    requests, notifications,
    request: (m) => requests.get(m),
    notification: (m) => notifications.get(m),
    type: typeByName,
    validate(value, type, where = '$') { const errs = []; check(value, type, where, errs, 0); return errs; },
    describe,
  };
}
