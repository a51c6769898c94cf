#!/usr/bin/env node
// Regenerates package.json's `contributes.configuration` from the server's settings schema
// (`mimi-lsp schema`), so the Settings UI shows every server setting with its description and
// default. One section per settings group; the extension's own settings (config/
// extension-settings.json) come first. `--check` exits 1 when package.json is out of date.
//
// Usage: node scripts/gen-config.mjs [--check] [--schema schema.json]
// The server comes from $MIMI_LSP, else the repository's .venv/bin/mimi-lsp, else PATH.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const repo = path.resolve(root, '..', '..');

function loadSchema(args) {
  const at = args.indexOf('--schema');
  if (at >= 0) return JSON.parse(fs.readFileSync(args[at + 1], 'utf8'));
  const venv = path.join(repo, '.venv', 'bin', 'mimi-lsp');
  const exe = process.env.MIMI_LSP || (fs.existsSync(venv) ? venv : 'mimi-lsp');
  return JSON.parse(execFileSync(exe, ['schema'], { encoding: 'utf8' }));
}

const DROP = new Set(['title', 'discriminator']);

/** A JSON schema node with `$ref`s inlined and pydantic-only keys removed. */
function inline(node, defs) {
  if (Array.isArray(node)) return node.map((n) => inline(n, defs));
  if (!node || typeof node !== 'object') return node;
  if (node.$ref) {
    const name = node.$ref.replace('#/$defs/', '');
    const { $ref, ...rest } = node;
    return inline({ ...defs[name], ...rest }, defs);
  }
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROP.has(key)) continue;
    out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inline(v, defs)])) : inline(value, defs);
  }
  return out;
}

/** Types of an `anyOf` whose members are plain types (e.g. `int | None`). */
function unionTypes(anyOf) {
  const types = anyOf.map((a) => a.type).filter(Boolean);
  return types.length === anyOf.length ? [...new Set(types)] : undefined;
}

/**
 * A nullable string or enum (`str | None`, default null) as the Settings UI can edit it: VS Code
 * shows `["string", "null"]` only as "Edit in settings.json". Both default to "", which the
 * server reads as unset; an enum lists "" first, labelled "(not set)".
 */
function plainNullable(s) {
  if (!s.anyOf || s.anyOf.length !== 2 || !('default' in s) || s.default !== null) return undefined;
  const [value, none] = s.anyOf[0].type === 'null' ? [s.anyOf[1], s.anyOf[0]] : s.anyOf;
  if (none.type !== 'null' || value.type !== 'string') return undefined;
  if (value.enum) {
    return { type: 'string', enum: ['', ...value.enum], enumItemLabels: ['(not set)', ...value.enum], default: '' };
  }
  return { type: 'string', default: '' };
}

/** One VS Code setting from one schema property. */
function setting(prop, defs, order) {
  const s = inline(prop, defs);
  const plain = plainNullable(s);
  if (plain) return { ...plain, ...(s.description ? { description: s.description } : {}), order };
  const out = {};
  const variants = s.oneOf ?? s.anyOf?.find((a) => a.oneOf)?.oneOf;
  if (variants) {
    // A backend: an object discriminated on `kind`.
    const nullable = Boolean(s.anyOf?.some((a) => a.type === 'null'));
    const kinds = variants.map((v) => v.properties?.kind?.const).filter(Boolean);
    out.type = nullable ? ['object', 'null'] : 'object';
    out.oneOf = nullable ? [...variants, { type: 'null' }] : variants;
    if ('default' in s) out.default = s.default;
    out.markdownDescription =
      `${s.description ?? ''} An object whose \`kind\` is one of ${kinds.map((k) => `\`${k}\``).join(', ')}` +
      (nullable ? ', or `null`.' : '.') +
      ' Edit in settings.json; for example `{"kind": "ollama", "host": "http://127.0.0.1:11434", "keepAlive": "1h"}`.' +
      ' An empty object means the defaults.';
    out.order = order;
    return out;
  }
  if (s.anyOf) {
    const types = unionTypes(s.anyOf);
    if (types) out.type = types;
    out.anyOf = s.anyOf;
  }
  for (const key of ['type', 'enum', 'const', 'items', 'properties', 'additionalProperties', 'minimum', 'maximum', 'default']) {
    if (key in s && !(key in out)) out[key] = s[key];
  }
  if (s.description) out.description = s.description;
  out.order = order;
  return out;
}

function capitalize(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** The `contributes.configuration` array for a settings schema. */
export function configuration(schema, extensionSettings) {
  const defs = schema.$defs ?? {};
  const general = { ...extensionSettings };
  const sections = [];
  let order = Object.keys(general).length;
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (prop.$ref) {
      const model = defs[prop.$ref.replace('#/$defs/', '')];
      const properties = {};
      let i = 0;
      for (const [key, sub] of Object.entries(model.properties ?? {})) {
        properties[`mimi.${name}.${key}`] = setting(sub, defs, i++);
      }
      sections.push({
        id: `mimi.${name}`,
        title: capitalize(name),
        properties,
      });
    } else {
      general[`mimi.${name}`] = setting(prop, defs, order++);
    }
  }
  return [{ id: 'mimi', title: 'Mimi', properties: general }, ...sections];
}

function main() {
  const args = process.argv.slice(2);
  const pkgPath = path.join(root, 'package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
  const extensionSettings = JSON.parse(
    fs.readFileSync(path.join(root, 'config', 'extension-settings.json'), 'utf8'),
  );
  const generated = configuration(loadSchema(args), extensionSettings);
  if (args.includes('--check')) {
    const same = JSON.stringify(pkg.contributes.configuration) === JSON.stringify(generated);
    if (!same) {
      console.error(
        'editors/vscode/package.json contributes.configuration is out of date with `mimi-lsp schema`.\n' +
          'Fix: cd editors/vscode && npm run gen-config',
      );
      process.exit(1);
    }
    console.log('contributes.configuration matches the server settings schema');
    return;
  }
  pkg.contributes.configuration = generated;
  fs.writeFileSync(pkgPath, JSON.stringify(pkg, null, 2) + '\n');
  const count = generated.reduce((n, s) => n + Object.keys(s.properties).length, 0);
  console.log(`package.json: ${count} settings in ${generated.length} sections`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main();
