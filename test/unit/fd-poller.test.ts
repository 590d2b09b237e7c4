// One epoll set for many fds (src/backends/fd-poller.ts) and one inotify fd
// for many files (src/backends/inotify.ts), as the daemon uses them for its
// leaders' pidfds and its scopes' cgroup.events: each callback fires for
// its own fd or file only, a watch disposed first never fires, and the
// shared fd is closed by dispose().
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FdPoller } from '../../src/backends/fd-poller.ts'
import { InotifyWatches } from '../../src/backends/inotify.ts'
import { closeFd, pidfdOpen } from '../../src/backends/native.ts'
import { CgroupUnits } from '../../src/backends/cgroup-units.ts'
import { detectCgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { needsRoot } from '../helpers/privilege.ts'

async function child(): Promise<ChildProcess> {
  const c = spawn('sleep', ['100'], { stdio: 'ignore' })
  await new Promise((r) => c.once('spawn', r))
  return c
}

const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The targets of our fds that match `re` (anon_inode:[eventpoll], anon_inode:inotify). */
function fdsLike(re: RegExp): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return re.test(readlinkSync(`/proc/self/fd/${fd}`))
    } catch {
      return false
    }
  }).length
}

describe('FdPoller: many pidfds behind one epoll set', () => {
  it('reports exactly the processes that exited, once each, and closes the set on dispose', async (t) => {
    const epolls = fdsLike(/eventpoll/)
    const poller = new FdPoller()
    const children = await Promise.all(Array.from({ length: 6 }, () => child()))
    const fds = children.map((c) => pidfdOpen(c.pid!))
    const fired = children.map(() => 0)
    t.after(() => { for (const c of children) c.kill('SIGKILL') })
    const watches = fds.map((fd, i) => poller.add(fd, true, () => { fired[i]!++ }))
    assert.equal(poller.size, 6)
    assert.equal(fdsLike(/eventpoll/), epolls + 1)
    // Disposed before its process exits: never fires.
    watches[5]!.dispose()
    for (const i of [0, 2, 5]) children[i]!.kill('SIGKILL')
    await Promise.all([0, 2, 5].map((i) => new Promise((r) => children[i]!.once('exit', r))))
    for (let t = 0; t < 100 && fired[0]! + fired[2]! < 2; t++) await settle(10)
    await settle()
    assert.deepEqual(fired, [1, 0, 1, 0, 0, 0])
    // A fired once-fd has left the set; disposing it again is harmless.
    watches[0]!.dispose()
    assert.equal(poller.size, 3)
    for (const i of [1, 3, 4]) watches[i]!.dispose()
    assert.equal(poller.size, 0)
    // Kept while empty, closed by dispose() once libuv lets go of its handle (the next turn of the loop).
    assert.equal(fdsLike(/eventpoll/), epolls + 1)
    poller.dispose()
    await settle()
    assert.equal(fdsLike(/eventpoll/), epolls)
    for (const i of [1, 3, 4]) children[i]!.kill('SIGKILL')
    for (const fd of fds) closeFd(fd)
  })
})

describe('InotifyWatches: many files behind one inotify fd', () => {
  it('calls back for the file that changed, shares a file between watches, and hears of its removal', async () => {
    const before = fdsLike(/inotify/)
    const dir = mkdtempSync(join(tmpdir(), 'mem-inotify-'))
    const files = ['a', 'b', 'c'].map((n) => join(dir, n))
    for (const f of files) writeFileSync(f, '')
    const watches = new InotifyWatches()
    const calls: string[] = []
    const a = watches.watch(files[0]!, () => calls.push('a'))
    const b = watches.watch(files[1]!, () => calls.push('b'))
    const b2 = watches.watch(files[1]!, () => calls.push('b2'))
    assert.equal(fdsLike(/inotify/), before + 1)

    appendFileSync(files[0]!, 'x')
    for (let t = 0; t < 100 && calls.length === 0; t++) await settle(10)
    await settle()
    assert.deepEqual(calls, ['a'])

    calls.length = 0
    b.dispose()
    appendFileSync(files[1]!, 'x')
    for (let t = 0; t < 100 && calls.length === 0; t++) await settle(10)
    await settle()
    assert.deepEqual(calls, ['b2'])

    // The file goes: one more call, then the kernel has dropped the watch.
    calls.length = 0
    rmSync(files[1]!)
    for (let t = 0; t < 100 && calls.length === 0; t++) await settle(10)
    await settle()
    assert.deepEqual([...new Set(calls)], ['b2'])
    b2.dispose()

    assert.throws(() => watches.watch(join(dir, 'missing'), () => undefined), { code: 'ENOENT', syscall: 'inotify_add_watch' })
    a.dispose()
    // Kept open while idle (closing an inotify fd waits for an RCU grace period), until dispose().
    const c = watches.watch(files[2]!, () => calls.push('c'))
    assert.equal(fdsLike(/inotify/), before + 1)
    c.dispose()
    watches.dispose()
    assert.equal(fdsLike(/inotify/), before)
    rmSync(dir, { recursive: true, force: true })
  })

  it('CgroupUnits.watch polls when no watch can be had, and looks at once when cgroup.events is gone', async () => {
    const layout = { kind: 'unified' as const, unified: '/nonexistent/cgroup', systemdV1: undefined, pidsV1: undefined, devicesV1: undefined, memoryV1: undefined }
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }
    const failing = (code: string) => ({
      watch: () => { throw Object.assign(new Error(`inotify_add_watch: ${code}`), { code }) },
      dispose: () => undefined,
    })
    const ref = { unit: 'mem-none.scope', cgroup: '/machine.slice/mem-none.scope' }
    // Out of inotify watches: polled every 500 ms instead.
    const full = new CgroupUnits({ layout, runtimeDir: '/nonexistent', log, fileWatches: failing('ENOSPC') })
    let polls = 0
    const polled = full.watch(ref, () => { polls++ })
    for (let i = 0; i < 60 && polls < 2; i++) await settle(50)
    polled.dispose()
    assert.equal(polls, 2)
    await settle(700)
    assert.equal(polls, 2, 'still polled after dispose()')
    // Gone already: one call right away.
    const gone = new CgroupUnits({ layout, runtimeDir: '/nonexistent', log, fileWatches: failing('ENOENT') })
    let looks = 0
    gone.watch(ref, () => { looks++ }).dispose()
    await settle(600)
    assert.equal(looks, 1)
  })

  it('CgroupUnits.watch hears a scope empty through cgroup.events', needsRoot, async () => {
    const layout = detectCgroupLayout()
    // Hybrid or pure cgroup2: every layout with a cgroup2 hierarchy has cgroup.events.
    assert.ok(layout?.unified !== undefined, 'no cgroup2 hierarchy')
    const cgroup = `/mem-watch-${process.pid}.scope`
    const dir = join(layout.unified, cgroup)
    mkdirSync(dir)
    const c = await child()
    try {
      writeFileSync(join(dir, 'cgroup.procs'), `${c.pid}\n`)
      const units = new CgroupUnits({ layout, runtimeDir: mkdtempSync(join(tmpdir(), 'mem-scopes-')), log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } })
      const ref = { unit: `mem-watch-${process.pid}.scope`, cgroup }
      assert.equal(await units.isPopulated(ref), true)
      let changes = 0
      const watch = units.watch(ref, () => { changes++ })
      c.kill('SIGKILL')
      for (let i = 0; i < 200 && changes === 0; i++) await settle(10)
      assert.ok(changes > 0, 'no cgroup.events change heard')
      assert.equal(await units.isPopulated(ref), false)
      watch.dispose()
      units.dispose()
    } finally {
      c.kill('SIGKILL')
      for (let i = 0; i < 100 && existsSync(dir); i++) {
        try { rmdirSync(dir) } catch { await settle(10) }
      }
    }
  })
})
