/**
 * The command line's word checks: which interface names are refused as a
 * verb's typo (and which are not), and strip's line rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandLikeName, typoDistance } from '../../src/cli/misspelt-command.js';
import { stripQuickKeys } from '../../src/cli/strip.js';

test('typo distance: one insertion, deletion, substitution or swap', () => {
  assert.equal(typoDistance('stat', 'stats'), 1);
  assert.equal(typoDistance('shwo', 'show'), 1);
  assert.equal(typoDistance('dwon', 'down'), 1);
  assert.equal(typoDistance('wg0', 'show'), 4);
});

test('verb-like names are refused with a hint and the -- escape; ordinary interface names are not', () => {
  for (const [name, hint] of [
    ['stat', "'stats'"],
    ['status', 'show'],
    ['version', '--version'],
    ['list', 'show interfaces'],
    ['UP', "'up'"],
    ['capure', "'capture'"],
    ['healt', "'health'"],
  ]) {
    const why = commandLikeName(name!);
    assert.ok(why?.includes(hint!), `${name}: ${why}`);
    assert.ok(why?.endsWith(`xdpwg -- ${name}`), `${name}: ${why}`);
  }
  for (const name of ['wg0', 'wg1', 'eth0', 'tun0', 'ip', 'a', 'wgtest', 'h7cd0', 'wg-home'])
    assert.equal(commandLikeName(name), undefined, name);
});

test('strip keeps comments and other sections, drops wg-quick keys only inside [Interface], any case', () => {
  assert.equal(
    stripQuickKeys('[Interface]\nADDRESS = 1.2.3.4/32\n# c\n[Peer]\nAddress = x\n'),
    '[Interface]\n# c\n[Peer]\nAddress = x\n\n',
  );
  assert.throws(() => stripQuickKeys('[Interface]\nSaveConfig = yes\n'), /neither true nor false/);
});
