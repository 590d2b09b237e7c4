// Real processes held through pidfds (src/backends/pidfd.ts via
// ProcfsProcesses): a handle names one process, reports its exit (a zombie
// counts as exited) through the event loop, signals it and nothing else,
// and refuses to hold a process whose start time or pidfd inode number is
// not the one asked for. A client's pidfd (LeaderPIDFD) is read through
// /proc/self/fdinfo.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { InvalidArgsError, NoSuchProcessError } from '../../src/protocol/errors.ts'
import { closeFd, pidfdOpen } from '../../src/backends/native.ts'
import { pidfsAvailable, pidOfPidfd } from '../../src/backends/pidfd.ts'
import { ProcfsProcesses } from '../../src/backends/procfs.ts'

async function child(argv: string[] = ['sleep', '100']): Promise<ChildProcess> {
  const c = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' })
  await new Promise((r) => c.once('spawn', r))
  return c
}

function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()))
}

/**
 * Where pidfds live on pidfs (Linux 6.9+), a pidfd's inode number names its
 * process for the whole boot, and a ref carries it; before that every
 * pidfd shares one anonymous inode, a ref carries none, and the start time
 * alone names the process. Each test that depends on it says which kernel
 * it ran on, and asserts that kernel's behaviour.
 */
const PIDFS = pidfsAvailable()
const ON_THIS_KERNEL = PIDFS ? 'with pidfs (Linux 6.9+)' : 'without pidfs (before Linux 6.9)'

describe('processes held by pidfd', () => {
  const processes = new ProcfsProcesses()

  it(`holds a process, signals it, and hears of its exit; ${ON_THIS_KERNEL}, ${PIDFS ? 'the handle names it by its pidfd inode number' : 'by PID and start time only'}`, async () => {
    const c = await child()
    const ref = (await processes.pin(c.pid!))!
    const handle = (await processes.hold(ref))!
    assert.equal(handle.ref.pid, c.pid)
    assert.equal(handle.ref.startTime, ref.startTime)
    if (PIDFS) assert.ok(typeof handle.ref.pidfdId === 'number' && handle.ref.pidfdId > 0, `pidfdId ${handle.ref.pidfdId}`)
    else assert.equal(handle.ref.pidfdId, undefined)
    assert.equal(await handle.isAlive(), true)
    const heard = new Promise<void>((resolve) => handle.onExit(resolve))
    await handle.signal(15)
    await heard
    await exited(c)
    assert.equal(c.signalCode, 'SIGTERM')
    assert.equal(await handle.isAlive(), false)
    await assert.rejects(handle.signal(9), NoSuchProcessError)
    // Asking after the exit still calls back.
    await new Promise<void>((resolve) => handle.onExit(resolve))
    handle.dispose()
    handle.dispose()
    await assert.rejects(handle.signal(9), NoSuchProcessError)
  })

  it('refuses a start time that is not the process\'s, and a process that has gone', async () => {
    const c = await child()
    const ref = (await processes.pin(c.pid!))!
    assert.equal(await processes.hold({ ...ref, startTime: ref.startTime + 1n }), undefined)
    c.kill('SIGKILL')
    await exited(c)
    assert.equal(await processes.hold(ref), undefined)
  })

  if (PIDFS) {
    it(`${ON_THIS_KERNEL}: refuses a pidfd inode number that is not the process's`, async () => {
      const c = await child()
      const ref = (await processes.pin(c.pid!))!
      const held = (await processes.hold(ref))!
      assert.equal(await processes.hold({ ...ref, pidfdId: held.ref.pidfdId! + 1 }), undefined)
      const again = (await processes.hold({ ...ref, pidfdId: held.ref.pidfdId }))!
      assert.equal(again.ref.pidfdId, held.ref.pidfdId)
      held.dispose()
      again.dispose()
      c.kill('SIGKILL')
      await exited(c)
    })
  } else {
    it(`${ON_THIS_KERNEL}: a pidfd inode number in a ref (from a newer kernel's state file) cannot be checked; the start time decides`, async () => {
      const c = await child()
      const ref = (await processes.pin(c.pid!))!
      const held = (await processes.hold({ ...ref, pidfdId: 12345 }))!
      assert.equal(held.ref.startTime, ref.startTime)
      assert.equal(held.ref.pidfdId, undefined)
      held.dispose()
      c.kill('SIGKILL')
      await exited(c)
    })
  }

  it('a zombie has exited', async () => {
    // The inner sleep's parent execs a sleep that never reaps it.
    const c = await child(['sh', '-c', 'sleep 0.3 & exec sleep 100'])
    let zombie: number | undefined
    for (let i = 0; i < 50 && zombie === undefined; i++) {
      const r = spawnSync('pgrep', ['-P', String(c.pid), 'sleep'], { encoding: 'utf8' })
      zombie = r.stdout.trim() === '' ? undefined : Number(r.stdout.trim().split('\n')[0])
      if (zombie === undefined) await new Promise((r2) => setTimeout(r2, 10))
    }
    assert.ok(zombie !== undefined)
    const handle = (await processes.hold((await processes.pin(zombie))!))!
    await new Promise<void>((resolve) => handle.onExit(resolve))
    assert.equal(await handle.isAlive(), false)
    assert.equal(await processes.pin(zombie), undefined, 'a zombie cannot be pinned either')
    handle.dispose()
    c.kill('SIGKILL')
    await exited(c)
  })

  it('pins the process a client\'s pidfd names, and refuses an fd that is no pidfd', async () => {
    const c = await child()
    const fd = pidfdOpen(c.pid!)
    try {
      assert.equal(pidOfPidfd(fd), c.pid)
      const ref = (await processes.pinPidfd(fd))!
      assert.equal(ref.pid, c.pid)
      assert.equal(ref.startTime, (await processes.pin(c.pid!))!.startTime)
      c.kill('SIGKILL')
      await exited(c)
      assert.equal(await processes.pinPidfd(fd), undefined)
    } finally {
      closeFd(fd)
    }
    const file = openSync('/proc/self/status', 'r')
    try {
      await assert.rejects(processes.pinPidfd(file), (err: unknown) => err instanceof InvalidArgsError && err.message === `Failed to parse PIDFD ${file}: Inappropriate ioctl for device`)
    } finally {
      closeSync(file)
    }
  })

  it('without pidfds, a handle falls back to the PID and start time', async () => {
    const c = await child()
    const plain = new ProcfsProcesses({ pidfds: false })
    const handle = (await plain.hold((await plain.pin(c.pid!))!))!
    assert.equal(handle.ref.pidfdId, undefined)
    assert.equal(await handle.isAlive(), true)
    await handle.signal(9)
    await exited(c)
    assert.equal(await handle.isAlive(), false)
    handle.dispose()
  })
})
