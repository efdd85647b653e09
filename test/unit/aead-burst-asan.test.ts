/**
 * The native burst AEAD's core under AddressSanitizer + UBSan: compiles
 * native/aead_burst.cc (without N-API) with test/native/aead_burst_harness.cc
 * and runs it. The harness puts packets flush against the end of exactly
 * sized heap blocks and feeds out-of-range descriptors, so any access outside
 * a packet is a sanitizer report, which fails this test. Debug asserts
 * (XDPWG_AEAD_ASSERT) are live in this build. Needs g++ and libssl-dev
 * (bootstrap installs both): missing tools fail the test, never skip it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../src/native/binding.js';

test('aead_burst core passes its harness under ASan and UBSan', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-aead-asan-'));
  try {
    const exe = path.join(dir, 'harness');
    execFileSync(
      'g++',
      [
        '-std=c++17',
        '-g',
        '-O1',
        '-fsanitize=address,undefined',
        '-fno-omit-frame-pointer',
        '-fno-sanitize-recover=all',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-DXDPWG_AEAD_CORE_ONLY',
        path.join(repoRoot, 'native', 'aead_burst.cc'),
        path.join(repoRoot, 'test', 'native', 'aead_burst_harness.cc'),
        '-lcrypto',
        '-lsodium',
        '-o',
        exe,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
    const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 60_000 });
    assert.doesNotMatch(run.stderr, /Sanitizer|runtime error|FAIL/, run.stderr);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /all checks passed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
