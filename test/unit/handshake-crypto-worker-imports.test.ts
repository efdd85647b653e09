/**
 * A handshake crypto thread loads only what it runs (issue 19): every
 * thread start pays for parsing and compiling its module graph, and the
 * threads start under a handshake flood, so the JavaScript reference Noise
 * code and the @noble libraries (fallbacks for a missing addon, which a
 * thread never is without) would cost ~14 ms of CPU per start for nothing.
 * This test walks the runtime imports of the compiled thread file (type
 * imports are gone from the JavaScript) and names what must not be there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/unit → dist/src. */
const distSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const THREAD = path.join(distSrc, 'daemon', 'handshake', 'handshake-crypto-worker.js');

/** Static imports and re-exports of a compiled file (its specifiers, relative or bare). */
function runtimeImportsOf(text: string): string[] {
  const found: string[] = [];
  // Statements start a line (tsc's output); comments, whose lines start with ' *' or '//', are not read.
  for (const re of [/^(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"]+)['"]/gm, /^import\s+['"]([^'"]+)['"]/gm])
    for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

/** Every file of dist/src the thread file loads, and every package (bare specifier) they import. */
function graphOf(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>([entry]);
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    for (const spec of runtimeImportsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        packages.add(spec);
        continue;
      }
      const next = path.resolve(path.dirname(file), spec);
      if (!files.has(next)) {
        files.add(next);
        queue.push(next);
      }
    }
  }
  return { files, packages };
}

test('the import reader sees multi-line imports and re-exports, not comments', () => {
  const text = `import {\n  a,\n  b,\n} from './x.js';\n/**\n * made from 'd' alone\n */\nexport { c } from "../y.js";\nimport '@noble/hashes/blake2.js';\n`;
  assert.deepEqual(runtimeImportsOf(text).sort(), ['../y.js', './x.js', '@noble/hashes/blake2.js'].sort());
});

test('a handshake crypto thread loads no JavaScript Noise reference, no @noble library, no package at all', () => {
  const { files, packages } = graphOf(THREAD);
  assert.deepEqual([...packages], [], 'packages a crypto thread imports');
  const rel = [...files].map((f) => path.relative(distSrc, f));
  for (const unwanted of [
    'protocol/noise-responder.js',
    'protocol/noise-ikpsk2.js',
    'protocol/noise-symmetric.js',
    'protocol/noise.js',
    'crypto/blake2s.js',
    'crypto/aead.js',
  ])
    assert.ok(!rel.includes(unwanted), `a crypto thread imports ${unwanted} (through: ${rel.join(', ')})`);
  // It does load the native responder it runs.
  assert.ok(rel.includes('protocol/noise-responder-native.js'), rel.join(', '));
});
