// The service-manager side of running under a unit (src/linux/sd-notify.ts,
// src/linux/listen-fds.ts, native/addon/service.c): sd_notify datagrams to a
// path and to an abstract socket, received by a notify socket of the test's
// own (helpers/notify-receiver.py), the watchdog, and the checks on fds
// passed by socket activation.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatNotify, notifyAddress, ServiceNotifier, watchdogUsec } from '../../src/linux/sd-notify.ts'
import { parseListenFds, takeListenFds } from '../../src/linux/listen-fds.ts'
import { fdSetCloexec, isListeningUnixStream } from '../../src/native/service.ts'
import { socketFd } from '../../src/backends/native.ts'
import { eventually, REPO } from '../helpers/sandbox.ts'

const RECEIVER = join(REPO, 'test/helpers/notify-receiver.py')
const dir = mkdtempSync(join(tmpdir(), 'machined-notify-'))
after(() => rmSync(dir, { recursive: true, force: true }))

interface Received { fields: Record<string, string>; pid: number | null }

/** A notify socket of our own: the datagrams it got so far. */
async function receiver(address: string): Promise<{ child: ChildProcess; got: Received[] }> {
  const child = spawn('python3', [RECEIVER, address, '30'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const got: Received[] = []
  let buf = ''
  let bound = false
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString()
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line === 'bound') bound = true
      else got.push(JSON.parse(line) as Received)
    }
  })
  await eventually(() => bound, 10_000, 'the receiver to bind')
  return { child, got }
}

void describe('sd_notify', () => {
  it('takes a path or @abstract address, nothing else', () => {
    assert.deepEqual(notifyAddress('/run/systemd/notify'), Buffer.from('/run/systemd/notify'))
    assert.deepEqual(notifyAddress('@sock'), Buffer.from('\0sock'))
    for (const bad of [undefined, '', '@', 'relative/path', 'vsock:2:1234']) assert.equal(notifyAddress(bad), undefined, String(bad))
    assert.equal(formatNotify({ READY: '1', STATUS: 'two\nlines' }), 'READY=1\nSTATUS=two lines\n')
  })

  it('reads the watchdog interval only when it is meant for us', () => {
    assert.equal(watchdogUsec({ WATCHDOG_USEC: '3000000' }, 42), 3_000_000)
    assert.equal(watchdogUsec({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '42' }, 42), 3_000_000)
    assert.equal(watchdogUsec({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '43' }, 42), undefined)
    for (const v of ['0', '-5', 'x', '', '1e9']) assert.equal(watchdogUsec({ WATCHDOG_USEC: v }, 42), undefined, v)
  })

  for (const [what, address] of [['a path', join(dir, 'notify')], ['an abstract name', `@machined-ts-test-${process.pid}`]] as const) {
    it(`sends datagrams to ${what}, and clears the variables`, async () => {
      const r = await receiver(address)
      try {
        const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: address, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid), OTHER: 'kept' }
        const notifier = ServiceNotifier.fromEnvironment({ env })
        assert.deepEqual(env, { OTHER: 'kept' })
        assert.equal(notifier.enabled, true)
        assert.equal(notifier.notify({ READY: '1', STATUS: 'Serving' }), true)
        notifier.startWatchdog()
        await eventually(() => r.got.filter((m) => m.fields.WATCHDOG === '1').length >= 3, 10_000, 'three WATCHDOG=1')
        notifier.dispose()
        assert.equal(notifier.notify({ STOPPING: '1' }), true)
        await eventually(() => r.got.some((m) => m.fields.STOPPING === '1'), 10_000, 'STOPPING=1')
        assert.deepEqual(r.got[0], { fields: { READY: '1', STATUS: 'Serving' }, pid: process.pid })
      } finally {
        r.child.kill()
      }
    })
  }

  it('does nothing without $NOTIFY_SOCKET, and reports a socket nobody reads without throwing', () => {
    const quiet = ServiceNotifier.fromEnvironment({ env: {} })
    assert.equal(quiet.enabled, false)
    assert.equal(quiet.notify({ READY: '1' }), false)
    const errors: Error[] = []
    const lost = ServiceNotifier.fromEnvironment({ env: { NOTIFY_SOCKET: join(dir, 'nobody') }, onError: (e) => errors.push(e) })
    assert.equal(lost.notify({ READY: '1' }), false)
    assert.equal((errors[0] as NodeJS.ErrnoException | undefined)?.code, 'ENOENT')
  })
})

void describe('socket activation', () => {
  it('parses $LISTEN_FDS for our PID only, naming unnamed fds "unknown"', () => {
    const env = { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'io.systemd.Machine:' }
    assert.deepEqual(parseListenFds(env, 42), [{ fd: 3, name: 'io.systemd.Machine' }, { fd: 4, name: 'unknown' }])
    assert.deepEqual(parseListenFds(env, 43), [])
    assert.deepEqual(parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42), [])
    assert.deepEqual(parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: '99999' }, 42), [])
    const other: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '1' }
    assert.deepEqual(takeListenFds(other), [])
    assert.deepEqual(other, {}, 'the variables are cleared even when they were not ours')
  })

  it('tells a listening Unix stream socket from other fds, and makes it close-on-exec', async () => {
    const server: Server = createServer()
    await new Promise<void>((r) => server.listen(join(dir, 'listen'), r))
    try {
      const fd = (server as unknown as { _handle: { fd: number } })._handle.fd
      assert.equal(isListeningUnixStream(fd), true)
      fdSetCloexec(fd)
      const flags = Number.parseInt(/^flags:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8)
      assert.notEqual(flags & 0o2000000, 0, 'O_CLOEXEC')
      const file = openSync(join(dir, 'plain'), 'w')
      assert.equal(isListeningUnixStream(file), false)
      closeSync(file)
      const client = await new Promise<Socket>((resolve) => {
        const s = connect(join(dir, 'listen'), () => resolve(s))
      })
      assert.equal(isListeningUnixStream(socketFd(client)), false, 'a connected socket is not a listening one')
      client.destroy()
    } finally {
      server.close()
    }
  })
})
