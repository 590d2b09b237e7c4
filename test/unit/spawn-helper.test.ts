// machined-spawn's side of its helper (src/spawn/helper.ts), started with
// the addon's posix_spawn: what it reports for a refused plan, for "go"
// and for "abort", and that nothing is left behind once `exited` resolves
// (no fd of ours open, no zombie). The container's own steps are
// native-programs.test.ts's and test/e2e/spawn-*.test.ts's.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { Helper } from '../../src/spawn/helper.ts'
import { needsRoot } from '../helpers/privilege.ts'

/**
 * Our open fds and what they are (not the one readdir held: closed by now),
 * once the event loop has run its close callbacks: a closed pidfd watch's
 * epoll fd goes with its handle, just after the callback that closed it.
 */
async function openFds(): Promise<string[]> {
  await new Promise((resolve) => setTimeout(resolve, 0))
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [`${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`]
    } catch {
      return []
    }
  }).sort()
}

/** Our children that have exited and wait to be reaped. */
function zombieChildren(): number[] {
  const zombies: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (state === 'Z' && Number(ppid) === process.pid) zombies.push(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }
  return zombies
}

function plan(lines: string[]): string {
  return [...lines, '.'].map((l) => `${l}\n`).join('')
}

describe('the helper, from machined-spawn', () => {
  it('reports a refused plan: no PID, no wait, the error, and a helper lost without an exit status', async () => {
    const before = await openFds()
    const helper = Helper.start(plan(['-']))
    assert.equal(await helper.pid, 0)
    assert.equal(await helper.waiting, false)
    await assert.rejects(helper.running, { message: 'plan line 1 is malformed' })
    assert.deepEqual(await helper.exited, { kind: 'lost' })
    assert.equal(helper.error, 'plan line 1 is malformed')
    assert.deepEqual(await openFds(), before)
    assert.deepEqual(zombieChildren(), [])
  })

  it('holds the container until go(), then reports it running and its exit code', needsRoot, async () => {
    const before = await openFds()
    const helper = Helper.start(plan(['clone -', 'wait-go', 'exec /bin/sh -c exit%203']))
    assert.ok(await helper.pid > 0)
    assert.equal(await helper.waiting, true)
    helper.go()
    await helper.running
    assert.deepEqual(await helper.exited, { kind: 'exited', code: 3 })
    assert.equal(helper.error, undefined)
    assert.deepEqual(await openFds(), before)
    assert.deepEqual(zombieChildren(), [])
  })

  it('abort() kills the waiting container', needsRoot, async () => {
    const before = await openFds()
    const helper = Helper.start(plan(['clone -', 'wait-go', 'exec /bin/true']))
    assert.equal(await helper.waiting, true)
    helper.abort()
    helper.go() // too late, and nobody reads it: ignored
    assert.deepEqual(await helper.exited, { kind: 'killed', signal: 9 })
    assert.deepEqual(await openFds(), before)
    assert.deepEqual(zombieChildren(), [])
  })
})
