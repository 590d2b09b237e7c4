// The one way machined-ts passes fds (src/native/fd-writer.ts and
// fd-socket.ts, on the addon's sendFds/receiveFds and poll sets), on real
// Unix sockets: a message with fds that meets a full socket keeps its fds
// for the try that sends its first byte, and they arrive exactly once,
// with that byte, however the rest is split; a full socket is waited out
// through EPOLLOUT (these tests stop every timer and it still completes);
// a peer that takes nothing fails the write after the bound, the fds still
// the caller's; the Varlink server's replies that carry fds take the same
// way (sendWithFds on a node:net socket).
import { after, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerCredentialsOf, sendWithFds, socketPair } from '../../src/backends/native.ts'
import type { Log } from '../../src/core/ports.ts'
import { loadAddon } from '../../src/native/addon.ts'
import { FdSocket } from '../../src/native/fd-socket.ts'
import { FdWriter } from '../../src/native/fd-writer.ts'
import { VarlinkServer } from '../../src/transports/varlink/server.ts'

const sendFds = (fd: number, data: Buffer, fds: number[]): number => loadAddon<{ sendFds(fd: number, data: Buffer, fds: number[]): number }>().sendFds(fd, data, fds)

const dir = mkdtempSync(join(tmpdir(), 'fd-passing-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const quiet: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

function isOpen(fd: number): boolean {
  try { fstatSync(fd); return true } catch { return false }
}

/** A file with `text` in it, opened for reading, and its inode number. */
function openFile(name: string, text: string): { fd: number; ino: number } {
  const path = join(dir, name)
  writeFileSync(path, text)
  const fd = openSync(path, 'r')
  return { fd, ino: fstatSync(fd).ino }
}

/** Fills a socket's send buffer until the kernel takes not one more byte; how many it took. */
function fill(fd: number): number {
  let total = 0
  for (const size of [65536, 1]) {
    for (;;) {
      try { total += sendFds(fd, Buffer.alloc(size, 0x2e), []) } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'EAGAIN')
        break
      }
    }
  }
  return total
}

interface Received {
  readonly data: Buffer
  /** Each read that brought fds: where it started in the stream, how long it was, and the fds. */
  readonly arrivals: { offset: number; length: number; fds: number[] }[]
}

/** Reads `expected` bytes from `socket` as they come (poll-driven, no timer), noting where fds came. */
function receive(socket: FdSocket, expected: number): Promise<Received> {
  const chunks: Buffer[] = []
  const arrivals: Received['arrivals'] = []
  let got = 0
  return new Promise((resolve, reject) => {
    socket.listen({
      data: (data, fds) => {
        if (fds.length > 0) arrivals.push({ offset: got, length: data.length, fds })
        chunks.push(data)
        got += data.length
        if (got >= expected) resolve({ data: Buffer.concat(chunks), arrivals })
      },
      end: () => reject(new Error(`end after ${got} of ${expected} bytes`)),
      error: reject,
    })
  })
}

void describe('FdWriter and FdSocket', () => {
  it('a 1-MB message with two fds behind a full socket: refused whole, then sent in parts; its fds arrive once, with its first byte', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate'] })
    try {
      const [a, b] = socketPair()
      const filled = fill(a)
      const files = [openFile('one', 'first file'), openFile('two', 'second file')]
      const message = randomBytes(1 << 20)
      const writer = new FdWriter(a)
      let result: Error | undefined | 'pending' = 'pending'
      writer.write(message, files.map((f) => f.fd), (err) => { result = err })
      // Not one byte went: the fds wait with the message, and the writer for EPOLLOUT.
      assert.equal(writer.waiting, true)
      assert.equal(writer.pendingBytes, message.length)

      const peer = new FdSocket(b)
      const got = await receive(peer, filled + message.length)
      assert.equal(result, undefined)
      assert.equal(writer.pendingBytes, 0)
      assert.equal(got.data.length, filled + message.length)
      assert.ok(got.data.subarray(filled).equals(message), 'the message arrives whole, in order')
      assert.equal(got.arrivals.length, 1, 'one read brings fds')
      const [arrival] = got.arrivals
      assert.ok(arrival!.offset <= filled && filled < arrival!.offset + arrival!.length, 'with the message\'s first byte')
      assert.deepEqual(arrival!.fds.map((fd) => fstatSync(fd).ino), files.map((f) => f.ino))
      assert.deepEqual(arrival!.fds.map((fd) => readFileSync(fd, 'utf8')), ['first file', 'second file'])
      for (const fd of [...arrival!.fds, ...files.map((f) => f.fd)]) closeSync(fd)
      writer.close()
      peer.destroy()
      closeSync(a)
    } finally {
      mock.timers.reset()
    }
  })

  it('messages queued behind a wait go out in order, each with its own fds', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate'] })
    try {
      const [a, b] = socketPair()
      const filled = fill(a)
      const writer = new FdWriter(a)
      const files = [0, 1, 2].map((i) => openFile(`q${i}`, `queued ${i}`))
      const messages = [0, 1, 2].map((i) => Buffer.alloc(300_000 + i, 0x41 + i))
      const done: number[] = []
      messages.forEach((m, i) => writer.write(m, [files[i]!.fd], (err) => { assert.equal(err, undefined); done.push(i) }))
      const peer = new FdSocket(b)
      const total = filled + messages.reduce((n, m) => n + m.length, 0)
      const got = await receive(peer, total)
      assert.deepEqual(done, [0, 1, 2])
      assert.ok(got.data.subarray(filled).equals(Buffer.concat(messages)))
      // Each message's fd came with the read that held its first byte.
      let start = filled
      assert.equal(got.arrivals.length, 3)
      got.arrivals.forEach((arrival, i) => {
        assert.ok(arrival.offset <= start && start < arrival.offset + arrival.length, `message ${i}`)
        assert.equal(readFileSync(arrival.fds[0]!, 'utf8'), `queued ${i}`)
        start += messages[i]!.length
      })
      for (const fd of [...got.arrivals.flatMap((x) => x.fds), ...files.map((f) => f.fd)]) closeSync(fd)
      writer.close()
      peer.destroy()
      closeSync(a)
    } finally {
      mock.timers.reset()
    }
  })

  it('a peer that takes nothing fails the write after the bound; nothing of the fds went, they stay the caller\'s', () => {
    mock.timers.enable({ apis: ['setTimeout'] })
    try {
      const [a, b] = socketPair()
      fill(a)
      const file = openFile('stalled', 'never sent')
      const errors: Error[] = []
      const writer = new FdWriter(a, { stallTimeoutMs: 5000, onError: (err) => errors.push(err) })
      let result: Error | undefined | 'pending' = 'pending'
      writer.write(Buffer.from('hello'), [file.fd], (err) => { result = err })
      mock.timers.tick(4999)
      assert.equal(result, 'pending')
      mock.timers.tick(1)
      assert.equal((result as unknown as NodeJS.ErrnoException).code, 'ETIMEDOUT')
      assert.equal(errors.length, 1)
      assert.equal(writer.waiting, false)
      // Later writes fail at once.
      let later: Error | undefined
      writer.write(Buffer.from('x'), [], (err) => { later = err })
      assert.equal((later as NodeJS.ErrnoException | undefined)?.code, 'ETIMEDOUT')
      assert.equal(isOpen(file.fd), true)
      // The peer finds the filler and no fd.
      const addon = loadAddon<{ receiveFds(fd: number): { data: Buffer; fds: number[] } }>()
      for (;;) {
        let r: { data: Buffer; fds: number[] }
        try { r = addon.receiveFds(b) } catch { break }
        assert.deepEqual(r.fds, [])
        assert.equal(r.data.includes('hello'), false)
      }
      for (const fd of [file.fd, a, b]) closeSync(fd)
    } finally {
      mock.timers.reset()
    }
  })

  // An abstract name is connected to by its exact length, as D-Bus names them (node:net pads it to 108 bytes):
  // test/integration/dbus-wire-connection.test.ts connects to dbus-daemon that way.
  it('connects by path, reads what node:net writes, and sees its end', async () => {
    const path = join(dir, 'listen.sock')
    let accepted: Socket | undefined
    const server = createServer((s) => { accepted = s; s.end(Buffer.from('from the server')) })
    await new Promise<void>((r) => server.listen(path, r))
    const socket = FdSocket.connect(path)
    const text = await new Promise<string>((resolve, reject) => {
      let got = ''
      socket.listen({ data: (d) => { got += d.toString() }, end: () => resolve(got), error: reject })
    })
    assert.equal(text, 'from the server')
    socket.destroy()
    assert.equal(socket.destroyed, true)
    accepted?.destroy()
    server.close()
    assert.throws(() => FdSocket.connect(join(dir, 'nobody')), { code: 'ENOENT', syscall: 'connect' })
    assert.throws(() => FdSocket.connect(`/${'x'.repeat(200)}`), { code: 'ENAMETOOLONG' })
  })
})

void describe('a Varlink reply with an fd, through sendWithFds', () => {
  it('a 2-MB reply to a client that reads late: every byte, and the fd once, with its first byte', async () => {
    const server = new VarlinkServer({ info: { vendor: 'v', product: 'p', version: '1', url: '' }, log: quiet, peerCredentials: peerCredentialsOf, fdSender: sendWithFds })
    const file = openFile('reply', 'passed with the reply')
    const blob = 'x'.repeat(2 << 20)
    server.addInterface({
      description: {
        name: 'org.example.big',
        symbols: [{ kind: 'method', name: 'Get', input: [], output: [{ name: 'fd', type: 'int' }, { name: 'blob', type: 'string' }] }],
      },
      handlers: { Get: (call) => Promise.resolve({ fd: call.pushFd(openSync(join(dir, 'reply'), 'r')), blob }) },
    })
    const path = join(dir, 'varlink.sock')
    await server.listen(path)
    const client = FdSocket.connect(path)
    const call = Buffer.from(`${JSON.stringify({ method: 'org.example.big.Get', parameters: {} })}\0`)
    client.write(call)
    // Not reading yet: the server's socket fills and its writer waits.
    client.pause()
    const expected = Buffer.byteLength(JSON.stringify({ parameters: { fd: 0, blob } })) + 1
    const got = receive(client, expected)
    await new Promise((r) => setTimeout(r, 100))
    client.resume()
    const { data, arrivals } = await got
    assert.equal(data.length, expected)
    assert.deepEqual(JSON.parse(data.subarray(0, -1).toString()), { parameters: { fd: 0, blob } })
    assert.equal(arrivals.length, 1)
    assert.equal(arrivals[0]!.offset, 0)
    assert.deepEqual(arrivals[0]!.fds.map((fd) => fstatSync(fd).ino), [file.ino])
    for (const fd of [...arrivals[0]!.fds, file.fd]) closeSync(fd)
    client.destroy()
    await server.close()
  })
})
