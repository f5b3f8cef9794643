/**
 * docs/protocol.md against the code: the client-message table is what scripts/protocol-doc.ts makes from the
 * zod schemas (src/signaling/schema.ts); every HTTP route registered in src/ is in the route table; every
 * HTTP and signaling error code is in the error tables; the README and docs link only to files that exist in
 * the repository.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DOC, renderClientMessages, withClientMessages } from '../../scripts/protocol-doc.ts';
import { MESSAGE_TYPES } from '../../src/signaling/schema.js';
import { ROOT } from '../helpers/server.js';

const doc = fs.readFileSync(DOC, 'utf8');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('the client-message table is generated from src/signaling/schema.ts', () => {
  assert.ok(withClientMessages(doc) === doc, 'docs/protocol.md differs from the zod schemas: run `node --import tsx scripts/protocol-doc.ts` and review the diff');
  const table = renderClientMessages();
  for (const type of MESSAGE_TYPES) assert.ok(table.includes(`| \`${type}\` |`), `message ${type} missing from the generated table`);
});

test('every message type is explained below the table', () => {
  const prose = doc.slice(doc.indexOf('What each one does:'));
  for (const type of MESSAGE_TYPES) assert.ok(prose.includes(`\`${type}\``), `client message ${type} has no explanation in docs/protocol.md`);
});

test('every HTTP route registered in src/ is in the route table', () => {
  const routes = new Set<string>();
  for (const file of sourceFiles(path.join(ROOT, 'src'))) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/\b(?:router|r)\.(get|post|put|patch|delete|websocket)\(\s*'([^']+)'/g)) {
      routes.add(`${m[1] === 'websocket' ? 'GET' : m[1]!.toUpperCase()} ${m[2]}`);
    }
  }
  assert.ok(routes.size > 20, `found only ${routes.size} routes: did the registration pattern change?`);
  const documented = new Set([...doc.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) ([^`?]+)(?:\?[^`]*)?` \|/gm)].map((m) => `${m[1]} ${m[2]}`));
  for (const r of routes) assert.ok(documented.has(r), `route ${r} is registered in src/ but not in docs/protocol.md section 1`);
});

test('every HTTP and signaling error code is documented', () => {
  const errors = fs.readFileSync(path.join(ROOT, 'src/http/errors.ts'), 'utf8');
  const httpCodes = [.../const STATUS: Record<ErrorCode, number> = \{([^}]*)\}/.exec(errors)![1]!.matchAll(/(\w+):\s*\d{3}/g)].map((m) => m[1]!);
  assert.ok(httpCodes.length >= 10);
  const schema = fs.readFileSync(path.join(ROOT, 'src/signaling/schema.ts'), 'utf8');
  const wsCodes = [.../type SignalingErrorCode =([^;]*);/.exec(schema)![1]!.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
  assert.ok(wsCodes.length >= 10);
  const section = doc.slice(doc.indexOf('## 4. Error codes'), doc.indexOf('## 5.'));
  for (const c of httpCodes) assert.match(section, new RegExp(`^\\| \`${c}\` \\| \\d{3} \\|`, 'm'), `HTTP error ${c} missing`);
  const ws = section.slice(section.indexOf('Signaling ('));
  for (const c of wsCodes) assert.match(ws, new RegExp(`^\\| \`${c}\` \\|`, 'm'), `signaling error ${c} missing`);
});

test('README and docs link only to files inside the repository, and those exist', () => {
  const files = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  for (const f of files) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (target.startsWith('#')) continue;
      assert.not.match(target, /^[a-z]+:/i, `${f} links outside the repository: ${target}`);
      const file = path.resolve(path.dirname(path.join(ROOT, f)), target.split('#')[0]!);
      assert.ok(file.startsWith(ROOT + path.sep), `${f} links outside the repository: ${target}`);
      assert.ok(fs.existsSync(file), `${f} links to a missing file: ${target}`);
    }
  }
  assert.match(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'), '](docs/protocol.md)');
});

test.run();
