// `mctl status` on a VM: the launcher's record of its guest (found by the
// leader PID) becomes one "Guest ID:" line; nothing for other machines.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { vmGuestIdentity } from '../../src/cli/host/vm-guest.ts'
import { describeGuestId, formatGuestRecord, parseGuestRecord } from '../../src/protocol/vm-guest-record.ts'

const ID = '0123456789ab4def8123456789abcdef'

describe('the VM guest record, as mctl status reads it', () => {
  it('round-trips through its text; unknown keys and junk are skipped', () => {
    const identity = { machineIdSource: 'VM UUID', machineId: ID, productUuid: '01234567-89ab-4def-8123-456789abcdef' }
    assert.deepEqual(parseGuestRecord(formatGuestRecord(identity)), identity)
    assert.deepEqual(parseGuestRecord('junk\nOTHER=1\nMACHINE_ID=x=y\n'), { machineId: 'x=y' })
    assert.equal(formatGuestRecord({}), '\n')
  })

  it('is found by the leader PID under the runtime root; none for another PID or a bad one', () => {
    const root = mkdtempSync(join(tmpdir(), 'mctl-vm-guest-'))
    try {
      mkdirSync(join(root, '4242'))
      writeFileSync(join(root, '4242', 'guest'), formatGuestRecord({ machineIdSource: 'VM UUID', machineId: ID }))
      const identity = vmGuestIdentity(4242, root)
      assert.deepEqual(identity, { machineIdSource: 'VM UUID', machineId: ID })
      assert.equal(describeGuestId(ID, identity), 'taken by the guest (from VM UUID)')
      assert.equal(vmGuestIdentity(4243, root), undefined)
      assert.equal(vmGuestIdentity(0, root), undefined)
      assert.equal(vmGuestIdentity(-1, root), undefined)
      assert.equal(describeGuestId(ID, vmGuestIdentity(4243, root)), undefined)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('says when the guest did not take the registered ID', () => {
    assert.equal(describeGuestId(ID, { machineIdSource: 'random generator', machineId: 'fedcba9876543210fedcba9876543210' }),
      'not taken: the guest runs as fedcba9876543210fedcba9876543210 (from random generator)')
  })
})
