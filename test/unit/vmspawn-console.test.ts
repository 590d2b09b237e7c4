// The console side of the launcher: the guest report and systemd's
// machine-ID message read off the guest's console, what the launcher
// folds from them (and from vsock notify messages) into the record `mctl
// status` reads, and that record (the Ctrl-] escape is in linux-pty.test.ts).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LineSplitter, parseConsoleLine } from '../../src/vmspawn/guest-console.ts'
import { GuestWatch } from '../../src/vmspawn/guest-watch.ts'
import { RuntimeDir } from '../../src/vmspawn/runtime-dir.ts'
import { vmGuestRecord } from '../../src/linux/vm-guest.ts'
import { describeGuestId, describeGuestState, type GuestRecord } from '../../src/protocol/vm-guest-record.ts'

const ID = '0123456789ab4def8123456789abcdef'
const UUID = '01234567-89ab-4def-8123-456789abcdef'
const REPORT = `machined-guest-report/1: READY=1 X_SYSTEMD_MACHINE_ID=${ID} X_SYSTEMD_HOSTNAME=guest X_MACHINED_PRODUCT_UUID=${UUID.toUpperCase()}`

function watch(registeredId = ID): { w: GuestWatch; records: GuestRecord[]; logs: string[] } {
  const records: GuestRecord[] = []
  const logs: string[] = []
  const w = new GuestWatch(registeredId, { onChange: (r) => records.push(r), log: (m) => logs.push(m) })
  return { w, records, logs }
}

describe("the guest's console", () => {
  test('lines without colours or carriage returns, split across chunks; an endless line is cut', () => {
    const s = new LineSplitter()
    assert.deepEqual(s.push('\x1b[0;32m  OK  \x1b[0m] Reached tar'), [])
    assert.deepEqual(s.push('get multi-user.target\r\nmore'), ['  OK  ] Reached target multi-user.target'])
    s.push('x'.repeat(100_000))
    assert.equal(s.push('\n')[0]!.length, 4096)
  })

  test("systemd's machine-ID message, the kernel banner, and the guest report", () => {
    assert.deepEqual(parseConsoleLine('[    3.705101] systemd[1]: Initializing machine ID from VM UUID.'), { kind: 'machine-id-source', source: 'VM UUID' })
    assert.deepEqual(parseConsoleLine('systemd[1]: Initializing machine ID from random generator.'), { kind: 'machine-id-source', source: 'random generator' })
    assert.deepEqual(parseConsoleLine('[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 …'), { kind: 'boot' })
    assert.deepEqual(parseConsoleLine(REPORT), {
      kind: 'report',
      fields: { facts: { ready: true, machineId: ID, hostname: 'guest', productUuid: UUID }, refused: [] },
    })
    assert.equal(parseConsoleLine('guest login: '), undefined)
    assert.equal(parseConsoleLine('$ uname -a   # Linux version is printed by the kernel'), undefined)
  })

  test('a report line is read where it stands in a line, and only as version 1', () => {
    // Kernel log prefix, and a line interleaved on the shared serial port.
    assert.equal(parseConsoleLine(`[   12.3] machined-guest-report[231]: ${REPORT}`)?.kind, 'report')
    assert.equal(parseConsoleLine(`ing target Multi-User System...${REPORT}`)?.kind, undefined, 'the tag must start a word')
    assert.equal(parseConsoleLine(`ing target Multi-User System... ${REPORT}`)?.kind, 'report')
    assert.deepEqual(parseConsoleLine('machined-guest-report/2: READY=1 NEW=field'), { kind: 'unsupported-report', version: 2 })
    assert.equal(parseConsoleLine('machined-guest-report: READY=1'), undefined, 'no version, no report')
    assert.equal(parseConsoleLine('machined-ts-report: product_uuid=x machine_id=y'), undefined, 'the old test-image line is gone')
  })

  test('hostile reports: bad values are refused one by one, unknown fields and junk words ignored, the first of a repeated field wins', () => {
    assert.deepEqual(parseConsoleLine('machined-guest-report/1: READY=yes X_SYSTEMD_MACHINE_ID=00000000000000000000000000000000 X_SYSTEMD_HOSTNAME=-bad- X_MACHINED_PRODUCT_UUID=none EXIT_STATUS=256'), {
      kind: 'report',
      fields: { facts: {}, refused: ['READY', 'EXIT_STATUS', 'X_SYSTEMD_MACHINE_ID', 'X_SYSTEMD_HOSTNAME', 'X_MACHINED_PRODUCT_UUID'] },
    })
    assert.deepEqual(parseConsoleLine(`machined-guest-report/1: junk =x lower=1 X_NEW=2 READY=1 READY=0 X_SYSTEMD_MACHINE_ID=${ID.toUpperCase()}`), {
      kind: 'report', fields: { facts: { ready: true }, refused: ['X_SYSTEMD_MACHINE_ID'] },
    })
    // More than 32 words: the rest is not read.
    const many = `machined-guest-report/1: ${'X_PAD=1 '.repeat(32)}READY=1`
    assert.deepEqual(parseConsoleLine(many), { kind: 'report', fields: { facts: {}, refused: [] } })
    // Terminal escapes in systemd's message do not get into the record.
    assert.equal(parseConsoleLine('Initializing machine ID from \x07\x9b2J evil.'), undefined)
  })
})

describe('what the launcher folds from its guest', () => {
  test('the report makes the guest ready once per boot; the banner of a new boot forgets it', () => {
    const { w, records, logs } = watch()
    w.console(Buffer.from(`[ 0.0] Linux version 6.1 (x)\r\n[ 3.7] systemd[1]: Initializing machine ID from VM UUID.\r\nnoise\r\n${REPORT.slice(0, 40)}`))
    w.console(Buffer.from(`${REPORT.slice(40)}\r\n${REPORT}\r\n`))
    assert.deepEqual(w.record, { machineIdSource: 'VM UUID', machineId: ID, productUuid: UUID, hostname: 'guest', ready: true, readyVia: 'console' })
    assert.deepEqual(logs, ['The guest is ready (its report on the console).'])
    assert.equal(records.length, 2, 'one change for the source, one for the report; the repeated report changes nothing')
    w.console(Buffer.from('[ 0.0] Linux version 6.1 (x)\n'))
    assert.deepEqual(w.record, { machineIdSource: 'VM UUID', machineId: ID, productUuid: UUID, hostname: 'guest' })
    w.console(Buffer.from(`${REPORT}\n`))
    assert.deepEqual(logs, ['The guest is ready (its report on the console).', 'The guest is ready (its report on the console).'])
  })

  test('sd_notify messages as a systemd >= 256 guest sends them over vsock, boot to poweroff', () => {
    const { w, logs } = watch()
    for (const m of [`X_SYSTEMD_MACHINE_ID=${ID}`, 'X_SYSTEMD_HOSTNAME=guest', 'X_SYSTEMD_UNIT_ACTIVE=basic.target', 'READY=1\nSTATUS=Ready.',
      'X_SYSTEMD_UNIT_ACTIVE=multi-user.target']) w.notify(Buffer.from(m))
    assert.deepEqual(w.record, { machineId: ID, hostname: 'guest', unitActive: 'multi-user.target', ready: true, readyVia: 'vsock', status: 'Ready.' })
    // The console report of the same boot adds nothing but says nothing again either.
    w.console(Buffer.from(`${REPORT}\n`))
    assert.equal(w.record.readyVia, 'vsock')
    for (const m of ['X_SYSTEMD_UNIT_INACTIVE=multi-user.target', 'X_SYSTEMD_SHUTDOWN=poweroff', 'EXIT_STATUS=3']) w.notify(Buffer.from(m))
    assert.equal(w.record.ready, undefined)
    assert.equal(w.record.shutdown, 'poweroff')
    assert.equal(w.exitStatus, 3)
    assert.deepEqual(logs, ['The guest is ready (READY=1 over vsock).', 'The guest is shutting down (poweroff).'])
  })

  test('hostile notify messages are said once per kind and change nothing', () => {
    const { w, records, logs } = watch()
    w.notify(Buffer.alloc(5000, 'A'))
    w.notify(Buffer.alloc(5000, 'B'))
    w.notify(Buffer.from('READY=1\0'))
    w.notify(Buffer.from([0x52, 0x3d, 0xff, 0xfe]))
    w.notify(Buffer.from('X_SYSTEMD_MACHINE_ID=nope'))
    w.notify(Buffer.from('X_SYSTEMD_MACHINE_ID=still-nope'))
    assert.deepEqual(records, [])
    assert.deepEqual(logs, [
      'Ignoring a notify message from the guest: longer than 4096 bytes.',
      'Ignoring a notify message from the guest: embedded NUL byte.',
      'Ignoring a notify message from the guest: not valid UTF-8.',
      "Ignoring the guest's malformed X_SYSTEMD_MACHINE_ID= (vsock).",
    ])
  })

  test('a guest under another machine ID than the VM UUID is said once', () => {
    const { w, logs } = watch()
    w.notify(Buffer.from('X_SYSTEMD_MACHINE_ID=fedcba9876543210fedcba9876543210'))
    w.notify(Buffer.from('X_SYSTEMD_MACHINE_ID=aedcba9876543210fedcba9876543210'))
    assert.deepEqual(logs, ["The guest runs as machine ID fedcba9876543210fedcba9876543210, not as the VM's UUID."])
    assert.equal(w.record.machineId, 'aedcba9876543210fedcba9876543210')
  })
})

describe('the guest record by leader PID', () => {
  test('written atomically, read back, removed with the directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'vmspawn-'))
    try {
      const dir = RuntimeDir.create(4242, root)
      assert.equal(vmGuestRecord(4242, root), undefined, 'nothing seen yet')
      const record: GuestRecord = { machineIdSource: 'VM UUID', machineId: ID, hostname: 'guest', ready: true, readyVia: 'vsock', status: 'Ready.' }
      dir.writeGuestRecord(record)
      assert.equal(readFileSync(join(root, '4242', 'guest'), 'utf8'),
        `MACHINE_ID_SOURCE=VM UUID\nMACHINE_ID=${ID}\nHOSTNAME=guest\nREADY=1\nREADY_VIA=vsock\nSTATUS=Ready.\n`)
      assert.deepEqual(vmGuestRecord(4242, root), record)
      assert.equal(dir.qmpSocket, join(root, '4242', 'qmp.sock'))
      dir.remove()
      assert.equal(vmGuestRecord(4242, root), undefined)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  test('lines for mctl status', () => {
    assert.equal(describeGuestId(ID, { machineIdSource: 'VM UUID', machineId: ID }), 'taken by the guest (from VM UUID)')
    assert.equal(describeGuestId(ID, { machineId: ID }), 'taken by the guest')
    assert.equal(describeGuestId(ID, { machineIdSource: 'random generator', machineId: 'fedcba9876543210fedcba9876543210' }),
      'not taken: the guest runs as fedcba9876543210fedcba9876543210 (from random generator)')
    assert.equal(describeGuestId(ID, { machineIdSource: 'VM UUID' }), 'taken by the guest (from VM UUID)')
    assert.equal(describeGuestId(ID, { machineIdSource: 'random generator' }), 'guest initialised its ID from random generator')
    assert.equal(describeGuestId('', { machineId: ID }), `guest runs as ${ID}`)
    assert.equal(describeGuestId(ID, undefined), undefined)
    assert.equal(describeGuestId(ID, {}), undefined)
    assert.equal(describeGuestState({ ready: true, readyVia: 'vsock', status: 'Ready.' }), 'ready (over vsock): Ready.')
    assert.equal(describeGuestState({ ready: true, readyVia: 'console' }), 'ready (on the console)')
    assert.equal(describeGuestState({ shutdown: 'reboot' }), 'shutting down (reboot)')
    assert.equal(describeGuestState({ machineId: ID }), undefined)
    assert.equal(describeGuestState(undefined), undefined)
  })
})
