/**
 * The Processes port as the core relies on it: a PID is pinned with its
 * start time, a pinned process is held (a pidfd) that goes on naming it,
 * says when it has exited and signals it and nothing else, and a client's
 * pidfd names its process (LeaderPIDFD).
 * @module
 */

import assert from 'node:assert/strict'
import { InvalidArgsError, NoSuchProcessError } from '../../src/protocol/errors.ts'
import type { ProcessHandle, ProcessRef, Processes } from '../../src/core/ports.ts'
import type { ContractCase, Harness } from './contract.ts'

export interface ProcessesHarness extends Harness {
  readonly processes: Processes
  /** Whether the port names processes by pidfd inode numbers (a kernel with pidfs; the fake plays one). */
  readonly pidfs: boolean
  /** Starts a process that ends on SIGTERM and SIGKILL, as `uid` (root by default). */
  start(options?: { uid?: number }): Promise<number>
  /** Ends it from outside and waits until it is gone. */
  end(pid: number): Promise<void>
  /** A pidfd for the running process, as a client would pass one. */
  openPidfd(pid: number): number
  /** An fd that is no pidfd. */
  notAPidfd(): number
  closeFd(fd: number): void
}

const SIGKILL = 9
const SIGTERM = 15

function exitOf(handle: { onExit(callback: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => { handle.onExit(resolve) })
}

/** `handle` holds the process `ref` pinned: alive until `end()` ends it, then not, and it says so. */
async function heldUntilEnd(handle: ProcessHandle, ref: ProcessRef, end: () => Promise<void>): Promise<void> {
  assert.equal(handle.ref.pid, ref.pid)
  assert.equal(handle.ref.startTime, ref.startTime)
  assert.equal(await handle.isAlive(), true)
  const exit = exitOf(handle)
  await end()
  await exit
  assert.equal(await handle.isAlive(), false)
}

export const processesCases: readonly ContractCase<ProcessesHarness>[] = [
  {
    name: 'pin names a running process with its start time; once it has exited, nothing',
    async run(h) {
      const pid = await h.start()
      const ref = await h.processes.pin(pid)
      assert.equal(ref?.pid, pid)
      assert.equal(typeof ref?.startTime, 'bigint')
      assert.deepEqual(await h.processes.pin(pid), ref, 'the same start time each time')
      await h.end(pid)
      assert.equal(await h.processes.pin(pid), undefined)
    },
  },
  {
    name: 'a held process is alive until it exits; then its handle says so, calls back, and sends no signal',
    async run(h) {
      const pid = await h.start()
      const ref = (await h.processes.pin(pid))!
      const handle = (await h.processes.hold(ref))!
      await heldUntilEnd(handle, ref, () => h.end(pid))
      await assert.rejects(handle.signal(SIGTERM), NoSuchProcessError)
      // Asking after the exit still calls back.
      await exitOf(handle)
      handle.dispose()
    },
  },
  {
    name: 'holdPid pins and holds the process a PID names now, as pin then hold do; nothing once it has exited',
    async run(h) {
      const pid = await h.start()
      const ref = (await h.processes.pin(pid))!
      const handle = (await h.processes.holdPid(pid))!
      await heldUntilEnd(handle, ref, () => h.end(pid))
      assert.equal(await h.processes.holdPid(pid), undefined)
      handle.dispose()
    },
  },
  {
    name: 'a handle tells the UID its process runs as, and undefined once it has exited',
    realNeedsRoot: true,
    async run(h) {
      const nobody = await h.start({ uid: 65534 })
      const handle = (await h.processes.holdPid(nobody))!
      assert.equal(await handle.ownerUid(), 65534)
      const exit = exitOf(handle)
      await h.end(nobody)
      await exit
      assert.equal(await handle.ownerUid(), undefined)
      handle.dispose()
    },
  },
  {
    name: 'a signal through the handle reaches the process: SIGKILL ends it',
    async run(h) {
      const pid = await h.start()
      const handle = (await h.processes.hold((await h.processes.pin(pid))!))!
      const exit = exitOf(handle)
      await handle.signal(SIGKILL)
      await exit
      assert.equal(await handle.isAlive(), false)
      handle.dispose()
    },
  },
  {
    name: 'hold refuses a start time that is not the process\'s, and a process that has exited',
    async run(h) {
      const pid = await h.start()
      const ref = (await h.processes.pin(pid))!
      assert.equal(await h.processes.hold({ ...ref, startTime: ref.startTime + 1n }), undefined)
      await h.end(pid)
      assert.equal(await h.processes.hold(ref), undefined)
    },
  },
  {
    name: 'by ref: alive while it runs, not with another start time, and no signal once it has exited',
    async run(h) {
      const pid = await h.start()
      const ref = (await h.processes.pin(pid))!
      assert.equal(await h.processes.isAlive(ref), true)
      assert.equal(await h.processes.isAlive({ ...ref, startTime: ref.startTime + 1n }), false)
      await h.end(pid)
      assert.equal(await h.processes.isAlive(ref), false)
      await assert.rejects(h.processes.signal(ref, SIGTERM), NoSuchProcessError)
    },
  },
  {
    name: 'ownerUid is the UID the process runs as, and undefined once it has exited',
    realNeedsRoot: true,
    async run(h) {
      const root = await h.start()
      const nobody = await h.start({ uid: 65534 })
      assert.equal(await h.processes.ownerUid((await h.processes.pin(root))!), 0)
      const ref = (await h.processes.pin(nobody))!
      assert.equal(await h.processes.ownerUid(ref), 65534)
      await h.end(nobody)
      assert.equal(await h.processes.ownerUid(ref), undefined)
    },
  },
  {
    name: 'a client\'s pidfd names its process, until it exits; an fd that is no pidfd is an invalid argument',
    async run(h) {
      const pid = await h.start()
      const fd = h.openPidfd(pid)
      const bogus = h.notAPidfd()
      try {
        const ref = await h.processes.pinPidfd(fd)
        assert.equal(ref?.pid, pid)
        assert.equal(ref.startTime, (await h.processes.pin(pid))?.startTime)
        await assert.rejects(h.processes.pinPidfd(bogus), InvalidArgsError)
        await h.end(pid)
        assert.equal(await h.processes.pinPidfd(fd), undefined)
      } finally {
        h.closeFd(fd)
        h.closeFd(bogus)
      }
    },
  },
  {
    name: 'with pidfs, a pidfd inode number names the process and hold refuses another; without, refs carry none',
    async run(h) {
      const pid = await h.start()
      const fd = h.openPidfd(pid)
      try {
        const ref = (await h.processes.pinPidfd(fd))!
        if (h.pidfs) {
          assert.equal(typeof ref.pidfdId, 'number')
          const handle = (await h.processes.hold(ref))!
          assert.equal(handle.ref.pidfdId, ref.pidfdId)
          assert.equal(await h.processes.hold({ ...ref, pidfdId: ref.pidfdId! + 1 }), undefined)
          handle.dispose()
        } else {
          // Before Linux 6.9 every pidfd shares one anonymous inode: no number names a process,
          // and the start time alone does.
          assert.equal(ref.pidfdId, undefined)
          const handle = (await h.processes.hold(ref))!
          assert.equal(handle.ref.pidfdId, undefined)
          assert.equal(handle.ref.startTime, ref.startTime)
          handle.dispose()
        }
      } finally {
        h.closeFd(fd)
      }
    },
  },
]
