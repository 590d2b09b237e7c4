// The Container Interface suite itself (test/conformance/): it covers every
// item of the checklist in docs/container-interface.md, and a probe that fails,
// or says nothing, is reported under its item's number.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { COVERED_ITEMS, describeFailures, guestScript, hostResults, parseGuestOutput } from '../conformance/container-interface.ts'

const FACTS = { name: 'web', hostBootId: 'b', hostCapBnd: '1ffffffffff', hostCgroup2Controllers: '', registeredId: '' }

void describe('the conformance suite', () => {
  test('covers every item of the checklist, 1 to 64', () => {
    assert.deepEqual(COVERED_ITEMS, Array.from({ length: 64 }, (_, i) => i + 1))
  })

  test('the guest script carries the host facts and runs every probe in a subshell of its own', () => {
    const s = guestScript({ ...FACTS, name: "it's" })
    assert.match(s, /^MACHINE_NAME='it'\\''s'$/m)
    assert.match(s, /^HOST_BOOT_ID='b'$/m)
    assert.equal(s.match(/^\( ITEM=\d+$/gm)?.length, COVERED_ITEMS.length - 5)
  })

  test('answers are read per item; silence is a failure naming the item', () => {
    const results = parseGuestOutput('1|pass|container=x\n2|fail|/run/host/container-manager missing\n8|n/a|not set\ngarbage\n')
    assert.deepEqual(results.find((r) => r.item === 1)?.outcome, 'pass')
    assert.deepEqual(results.find((r) => r.item === 8)?.outcome, 'n/a')
    assert.equal(results.find((r) => r.item === 3)?.detail, 'the probe gave no answer')
    const text = describeFailures(results)
    assert.match(text, /^item 2 \(MUST, guest\) \/run\/host\/container-manager matches \$container: \/run\/host\/container-manager missing$/m)
    assert.match(text, /^item 3 \(MUST, guest\)/m)
    assert.doesNotMatch(text, /^item 1 /m)
  })

  test('host probes: registration and the scope', () => {
    const ctx = {
      ...FACTS, registeredId: 'ab', leader: 42, leaderCgroup: '0::/machine.slice/machine-web.scope/init.scope\n',
      machinectlShow: 'Name=web\nId=ab\nClass=container\nLeader=42\nService=machined-spawn\n', journal: { code: 0, output: 'entry' },
    }
    const byItem = new Map(hostResults(ctx).map((r) => [r.item, r]))
    assert.equal(byItem.get(58)?.outcome, 'pass')
    assert.equal(byItem.get(29)?.outcome, 'pass')
    assert.equal(byItem.get(55)?.outcome, 'pass')
    const wrong = new Map(hostResults({ ...ctx, leaderCgroup: '0::/\n', machinectlShow: 'Class=vm\nLeader=7\nId=ab\n' }).map((r) => [r.item, r]))
    assert.equal(wrong.get(29)?.outcome, 'fail')
    assert.match(wrong.get(58)?.detail ?? '', /Class=vm, Leader=7 \(PID 1 is 42\)/)
    assert.equal(new Map(hostResults({ ...ctx, machinectlShow: '', registeredId: '' }).map((r) => [r.item, r])).get(58)?.outcome, 'n/a')
  })
})
