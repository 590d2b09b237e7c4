// /run/systemd/machines/<name>: we write byte for byte what systemd 252's
// machine_save() writes (captured files in test/fixtures/machined-252), and
// read such files back tolerantly: bad values warn, a file that names
// another machine is refused.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { STATE_FILE_HEADER, formatMachineState, parseMachineState, type MachineStateRecord } from '../../src/core/state-file.ts'

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/machined-252/${name}`, import.meta.url), 'utf8')
}

function record(overrides: Partial<MachineStateRecord> & { name: string }): MachineStateRecord {
  return {
    unit: undefined, service: undefined, rootDirectory: undefined, id: undefined, leader: undefined, class: undefined,
    realtime: undefined, monotonic: undefined, netifs: [], vsockCid: undefined, sshAddress: undefined,
    sshPrivateKeyPath: undefined, leaderStartTime: undefined, uid: undefined, ...overrides,
  }
}

/** RegisterMachineWithNetwork("golden", 11223344…ff01, "golden-svc", "container", 5188, "/srv/golden", []). */
const GOLDEN = record({
  name: 'golden', unit: 'machine-golden.scope', service: 'golden-svc', rootDirectory: '/srv/golden',
  id: '112233445566778899aabbccddeeff01', leader: 5188, class: 'container',
  realtime: 1795615540288637n, monotonic: 1860524588n,
})

/** RegisterMachineWithNetwork("stnet", deadbeef0001…0b, "svc", "container", 4605, "/srv/stnet", [1, 3]). */
const STNET = record({
  name: 'stnet', unit: 'machine-probe1.scope', service: 'svc', rootDirectory: '/srv/stnet',
  id: 'deadbeef000102030405060708090a0b', leader: 4605, class: 'container',
  realtime: 1795616744170425n, monotonic: 374215952n, netifs: [1, 3],
})

void describe('formatMachineState', () => {
  void test('reproduces state-file-example byte for byte', () => {
    assert.equal(formatMachineState(GOLDEN), fixture('state-file-example'))
  })

  void test('reproduces the NETIF example byte for byte', () => {
    assert.equal(formatMachineState(STNET), fixture('state-file-stnet'))
  })

  void test('C-escapes SERVICE and ROOT as machine_save() does', () => {
    const stesc = record({
      name: 'stesc', unit: 'machine-probe1.scope', service: 'my "svc" \\ x\ny \u00fc', rootDirectory: '/srv/with space',
      leader: 4605, class: 'container', realtime: 1795616744515707n, monotonic: 374561234n,
    })
    assert.equal(formatMachineState(stesc), fixture('state-file-stesc'))
  })

  void test('a unit with escapes is written as SCOPE=machine-foo\\\\x2dbar.scope', () => {
    const text = formatMachineState(record({ name: 'foo-bar', unit: 'machine-foo\\x2dbar.scope' }))
    assert.equal(text, `${STATE_FILE_HEADER}NAME=foo-bar\nSCOPE=machine-foo\\\\x2dbar.scope\n`)
  })

  void test('empty service and root, a null id and no ifindices are left out (vm example)', () => {
    const stvm = record({
      name: 'stvm', unit: 'machine-probe1.scope', service: '', rootDirectory: '', leader: 4605, class: 'vm',
      realtime: 1795616744236331n, monotonic: 374281859n,
    })
    assert.equal(formatMachineState(stvm), [
      '# This is private data. Do not parse.', 'NAME=stvm', 'SCOPE=machine-probe1.scope', 'LEADER=4605', 'CLASS=vm',
      'REALTIME=1795616744236331', 'MONOTONIC=374281859', '',
    ].join('\n'))
  })

  void test('our extra keys come after systemd 252\'s, in a fixed order', () => {
    const text = formatMachineState({
      ...GOLDEN, netifs: [2], vsockCid: 42, sshAddress: 'vsock/42', sshPrivateKeyPath: '/k', leaderStartTime: 123456n, stopping: true,
    })
    assert.ok(text.startsWith(fixture('state-file-example')))
    assert.equal(text.slice(fixture('state-file-example').length),
      'NETIF=2\nVSOCK_CID=42\nSSH_ADDRESS=vsock/42\nSSH_PRIVATE_KEY_PATH=/k\nLEADER_STARTTIME=123456\nSTOPPING=1\n')
  })
})

void describe('parseMachineState', () => {
  void test('reads a file written by systemd 252', () => {
    const { state, warnings } = parseMachineState(fixture('state-file-example'), 'golden')
    assert.deepEqual(warnings, [])
    assert.deepEqual(state, GOLDEN)
  })

  void test('reads NETIF', () => {
    assert.deepEqual(parseMachineState(fixture('state-file-stnet'), 'stnet').state, STNET)
  })

  void test('round trips every field', () => {
    const full: MachineStateRecord = {
      ...GOLDEN, unit: 'machine-foo\\x2dbar.scope', service: 'svc with "quotes" and \\ backslash', rootDirectory: '/srv/with space',
      netifs: [1, 3, 3], vsockCid: 3, sshAddress: 'vsock/3', sshPrivateKeyPath: '/run/key', leaderStartTime: 987654321n, class: 'vm',
      stopping: true,
    }
    const { state, warnings } = parseMachineState(formatMachineState(full), full.name)
    assert.deepEqual(warnings, [])
    assert.deepEqual(state, full)
  })

  void test('round trips a minimal record', () => {
    const minimal = record({ name: 'm' })
    assert.deepEqual(parseMachineState(formatMachineState(minimal), 'm').state, minimal)
  })

  void test('a file naming a different machine is refused', () => {
    assert.throws(() => parseMachineState(fixture('state-file-example'), 'other'), {
      message: "State file for machine 'other' reports a different name 'golden', refusing",
    })
  })

  void test('a file without NAME is read under the expected name', () => {
    assert.equal(parseMachineState('LEADER=7\n', 'x').state.name, 'x')
  })

  void test('bad values give warnings, not throws, and are skipped', () => {
    const text = [
      STATE_FILE_HEADER.trimEnd(), 'NAME=bad', 'SCOPE=machine-bad.scope', 'ID=not-an-id', 'LEADER=-5', 'CLASS=host-ish',
      'REALTIME=soon', 'MONOTONIC=12', 'NETIF=1 x -2 0 3', 'VSOCK_CID=abc', 'LEADER_STARTTIME=1.5', 'UNKNOWN_KEY=whatever', '',
    ].join('\n')
    const { state, warnings } = parseMachineState(text, 'bad')
    assert.equal(state.unit, 'machine-bad.scope')
    assert.equal(state.id, undefined)
    assert.equal(state.leader, undefined)
    assert.equal(state.class, undefined)
    assert.equal(state.realtime, undefined)
    assert.equal(state.monotonic, 12n)
    assert.deepEqual(state.netifs, [1, 3])
    assert.equal(state.vsockCid, undefined)
    assert.equal(state.leaderStartTime, undefined)
    assert.deepEqual(warnings.sort(), [
      'Failed to parse LEADER=-5, ignoring',
      'Failed to parse LEADER_STARTTIME=1.5, ignoring',
      'Failed to parse REALTIME=soon, ignoring',
      'Failed to parse VSOCK_CID=abc, ignoring',
      'Failed to parse machine ID not-an-id, ignoring',
      'Failed to parse machine class host-ish, ignoring',
      'Failed to parse network interface index -2, ignoring',
      'Failed to parse network interface index 0, ignoring',
      'Failed to parse network interface index x, ignoring',
    ])
  })

  void test('an upper-case ID is read as lower case', () => {
    assert.equal(parseMachineState('ID=112233445566778899AABBCCDDEEFF01\n', 'x').state.id, '112233445566778899aabbccddeeff01')
  })

  void test('a leader outside the PID range is dropped', () => {
    assert.equal(parseMachineState('LEADER=0\n', 'x').state.leader, undefined)
    assert.equal(parseMachineState('LEADER=1073741824\n', 'x').state.leader, undefined)
    assert.equal(parseMachineState('LEADER=1073741823\n', 'x').state.leader, 1073741823)
  })

  void test('garbage does not throw', () => {
    const { state } = parseMachineState('\u0000\u0001 not a state file\n=\n==\n', 'junk')
    assert.equal(state.name, 'junk')
    assert.equal(state.leader, undefined)
  })
})
