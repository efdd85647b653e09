/**
 * The layers point one way: cli → daemon → datapath → protocol →
 * crypto/packet/native (README "Layout"). This test reads the imports of
 * every file under src/ and fails on one that reaches a higher layer, so a
 * lower layer never learns about the code that uses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/unit → the repository. */
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const src = path.join(repo, 'src');

/** Rank of each top-level folder of src/: a file may import its own rank or lower. */
const RANK: Record<string, number> = { cli: 4, daemon: 3, datapath: 2, protocol: 1, crypto: 0, packet: 0, native: 0 };

/**
 * Upward imports tolerated for now (none). An entry that no longer exists
 * fails the test too, so the list only shrinks.
 */
const KNOWN_UPWARD = new Set<string>([]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

/** The top-level folder of a path under src/, or undefined when the path leaves src/. */
function layerOf(file: string): string | undefined {
  const rel = path.relative(src, file);
  if (rel.startsWith('..')) return undefined;
  return rel.split(path.sep)[0];
}

test('layering: every src/ folder has a rank', () => {
  for (const e of readdirSync(src, { withFileTypes: true })) {
    if (e.isDirectory()) assert.ok(e.name in RANK, `src/${e.name}/ has no place in the layer order (RANK in this test)`);
  }
});

test('layering: the import reader sees static, type, re-export and dynamic imports', () => {
  const text =
    "import a from './a.js';\nimport type { B } from '../b.js';\nexport { c } from './c.js';\nimport './d.js';\nconst e = await import('../e.js');\nimport x from 'node:fs';";
  assert.deepEqual(importsOf(text).sort(), ['../b.js', '../e.js', './a.js', './c.js', './d.js']);
});

test('layering: no file in src/ imports from a higher layer', () => {
  const upward: string[] = [];
  const files = sourceFiles(src);
  assert.ok(files.length > 50, `only ${files.length} source files found under ${src}`);
  for (const file of files) {
    const from = layerOf(file)!;
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
      const to = layerOf(target);
      assert.ok(to !== undefined, `${path.relative(src, file)} imports ${spec}, outside src/`);
      if (RANK[to]! > RANK[from]!) upward.push(`${path.relative(src, file)} -> ${path.relative(src, target)}`);
    }
  }
  const unexpected = upward.filter((u) => !KNOWN_UPWARD.has(u));
  assert.deepEqual(unexpected, [], `imports from a lower layer to a higher one:\n${unexpected.join('\n')}`);
  const gone = [...KNOWN_UPWARD].filter((k) => !upward.includes(k));
  assert.deepEqual(gone, [], `fixed: remove from KNOWN_UPWARD in this test:\n${gone.join('\n')}`);
});
