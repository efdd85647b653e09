/**
 * The crypto crew's cross-thread protocol (native/aead_crew.h) under
 * ThreadSanitizer: compiles native/aead_burst.cc and native/aead_crew.cc
 * (without N-API) with test/native/aead_crew_harness.cc and runs it. Two
 * owner threads share one crew, with the crew restarted, spinning and
 * sleeping; every shared burst must equal the same burst run alone, and TSan
 * must see no data race on a burst, its results or the job. Needs g++ and
 * libssl-dev (bootstrap installs both): missing tools fail the test, never skip it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../src/native/binding.js';

test('aead_crew passes its harness under ThreadSanitizer', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-crew-tsan-'));
  try {
    const exe = path.join(dir, 'harness');
    execFileSync(
      'g++',
      [
        '-std=c++17',
        '-g',
        '-O1',
        '-fsanitize=thread',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-DXDPWG_AEAD_CORE_ONLY',
        path.join(repoRoot, 'native', 'aead_burst.cc'),
        path.join(repoRoot, 'native', 'aead_crew.cc'),
        path.join(repoRoot, 'test', 'native', 'aead_crew_harness.cc'),
        '-lcrypto',
        '-lsodium',
        '-o',
        exe,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
    const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 120_000 });
    assert.doesNotMatch(run.stderr, /ThreadSanitizer|FAIL/, run.stderr);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /all checks passed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
