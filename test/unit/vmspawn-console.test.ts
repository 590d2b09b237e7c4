// The console side of the launcher: reading the guest's identity off its
// console, and the record `mctl status` reads (the Ctrl-] escape is in
// linux-pty.test.ts).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GuestConsoleWatch, LineSplitter, parseConsoleLine } from '../../src/vmspawn/guest-console.ts'
import { RuntimeDir } from '../../src/vmspawn/runtime-dir.ts'
import { vmGuestIdentity } from '../../src/cli/host/vm-guest.ts'
import { describeGuestId } from '../../src/protocol/vm-guest-record.ts'

describe("the guest's console", () => {
  test('lines without colours or carriage returns, split across chunks', () => {
    const s = new LineSplitter()
    assert.deepEqual(s.push('\x1b[0;32m  OK  \x1b[0m] Reached tar'), [])
    assert.deepEqual(s.push('get multi-user.target\r\nmore'), ['  OK  ] Reached target multi-user.target'])
  })
  test("systemd's machine-id message and our image's report line", () => {
    assert.deepEqual(parseConsoleLine('[    3.705101] systemd[1]: Initializing machine ID from VM UUID.'), { machineIdSource: 'VM UUID' })
    assert.deepEqual(parseConsoleLine('systemd[1]: Initializing machine ID from random generator.'), { machineIdSource: 'random generator' })
    assert.deepEqual(parseConsoleLine('machined-ts-report: product_uuid=01234567-89AB-4def-8123-456789abcdef machine_id=0123456789ab4def8123456789abcdef expected=0123456789ab4def8123456789abcdef verdict=match'),
      { machineId: '0123456789ab4def8123456789abcdef', productUuid: '01234567-89ab-4def-8123-456789abcdef' })
    assert.deepEqual(parseConsoleLine('machined-ts-report: product_uuid=none machine_id=none expected=none verdict=no-uuid'), {})
    assert.equal(parseConsoleLine('guest login: '), undefined)
  })
  test('the watch folds what it sees and reports each change', () => {
    const seen: unknown[] = []
    const w = new GuestConsoleWatch((i) => seen.push(i))
    w.push(Buffer.from('[ 3.7] systemd[1]: Initializing machine ID from VM UUID.\r\nnoise\r\nmachined-ts-report: product_uuid=01234567-89ab-4def-8123-456789abcdef machine_id=0123456789ab4def8123456789abcdef'))
    w.push(Buffer.from(' expected=x verdict=match\r\n'))
    assert.deepEqual(w.identity, { machineIdSource: 'VM UUID', machineId: '0123456789ab4def8123456789abcdef', productUuid: '01234567-89ab-4def-8123-456789abcdef' })
    assert.equal(seen.length, 2)
  })
})

describe('the guest record by leader PID', () => {
  test('written atomically, read back, removed with the directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'vmspawn-'))
    try {
      const dir = RuntimeDir.create(4242, root)
      assert.equal(vmGuestIdentity(4242, root), undefined, 'nothing seen yet')
      dir.writeGuestIdentity({ machineIdSource: 'VM UUID', machineId: '0123456789ab4def8123456789abcdef' })
      assert.equal(readFileSync(join(root, '4242', 'guest'), 'utf8'), 'MACHINE_ID_SOURCE=VM UUID\nMACHINE_ID=0123456789ab4def8123456789abcdef\n')
      assert.deepEqual(vmGuestIdentity(4242, root), { machineIdSource: 'VM UUID', machineId: '0123456789ab4def8123456789abcdef' })
      assert.equal(dir.qmpSocket, join(root, '4242', 'qmp.sock'))
      dir.remove()
      assert.equal(vmGuestIdentity(4242, root), undefined)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  test('one line for mctl status', () => {
    const id = '0123456789ab4def8123456789abcdef'
    assert.equal(describeGuestId(id, { machineIdSource: 'VM UUID', machineId: id }), 'taken by the guest (from VM UUID)')
    assert.equal(describeGuestId(id, { machineId: id }), 'taken by the guest')
    assert.equal(describeGuestId(id, { machineIdSource: 'random generator', machineId: 'fedcba9876543210fedcba9876543210' }),
      'not taken: the guest runs as fedcba9876543210fedcba9876543210 (from random generator)')
    assert.equal(describeGuestId(id, { machineIdSource: 'VM UUID' }), 'taken by the guest (from VM UUID)')
    assert.equal(describeGuestId(id, { machineIdSource: 'random generator' }), 'guest initialised its ID from random generator')
    assert.equal(describeGuestId('', { machineId: id }), `guest runs as ${id}`)
    assert.equal(describeGuestId(id, undefined), undefined)
    assert.equal(describeGuestId(id, {}), undefined)
  })
})
