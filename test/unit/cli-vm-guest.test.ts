// `mctl status` on a VM: the launcher's record of its guest (found by the
// leader PID) becomes the "Guest:" and "Guest ID:" lines; nothing for other machines.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { vmGuestRecord } from '../../src/linux/vm-guest.ts'
import { describeGuestId, formatGuestRecord, parseGuestRecord } from '../../src/protocol/vm-guest-record.ts'

const ID = '0123456789ab4def8123456789abcdef'

describe('the VM guest record, as mctl status reads it', () => {
  it('round-trips through its text; unknown keys and junk are skipped', () => {
    const record = {
      machineIdSource: 'VM UUID', machineId: ID, productUuid: '01234567-89ab-4def-8123-456789abcdef', hostname: 'guest',
      ready: true, readyVia: 'vsock', status: 'Ready.', unitActive: 'multi-user.target', shutdown: 'poweroff',
    } as const
    assert.deepEqual(parseGuestRecord(formatGuestRecord(record)), record)
    assert.deepEqual(parseGuestRecord('junk\nOTHER=1\nMACHINE_ID=x=y\nREADY=yes\nREADY_VIA=carrier-pigeon\n'), { machineId: 'x=y' })
    assert.equal(formatGuestRecord({}), '\n')
    assert.equal(formatGuestRecord({ status: 'two\nlines' }), 'STATUS=two lines\n', 'a value never breaks a line')
  })

  it('is found by the leader PID under the runtime root; none for another PID or a bad one', () => {
    const root = mkdtempSync(join(tmpdir(), 'mctl-vm-guest-'))
    try {
      mkdirSync(join(root, '4242'))
      writeFileSync(join(root, '4242', 'guest'), formatGuestRecord({ machineIdSource: 'VM UUID', machineId: ID }))
      const identity = vmGuestRecord(4242, root)
      assert.deepEqual(identity, { machineIdSource: 'VM UUID', machineId: ID })
      assert.equal(describeGuestId(ID, identity), 'taken by the guest (from VM UUID)')
      assert.equal(vmGuestRecord(4243, root), undefined)
      assert.equal(vmGuestRecord(0, root), undefined)
      assert.equal(vmGuestRecord(-1, root), undefined)
      assert.equal(describeGuestId(ID, vmGuestRecord(4243, root)), undefined)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('says when the guest did not take the registered ID', () => {
    assert.equal(describeGuestId(ID, { machineIdSource: 'random generator', machineId: 'fedcba9876543210fedcba9876543210' }),
      'not taken: the guest runs as fedcba9876543210fedcba9876543210 (from random generator)')
  })
})
