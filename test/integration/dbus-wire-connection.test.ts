// The wire layer on real sockets. Against a scripted fake bus: a malformed
// message closes the connection through onClose and never throws out of
// the socket's handlers; messages sent in one tick leave in one write; the
// handshake goes out with Hello, and a refusal or a bus without fd passing
// is still read right.
// Against a private dbus-daemon: calls, errors, signals, a 10-MB message,
// and fds in both directions, with no fd left open that nobody took, also
// when the socket is full while a message with fds goes out.
import { after, before, describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FdSocket } from '../../src/native/fd-socket.ts'
import { BusConnection, type IncomingCall } from '../../src/wire/dbus/bus.ts'
import { Connection } from '../../src/wire/dbus/connection.ts'
import { AuthError, DBusError, MalformedMessageError } from '../../src/wire/dbus/errors.ts'
import { encodeStandalone, methodReturn, signal } from '../../src/wire/dbus/message.ts'
import { Variant } from '../../src/wire/dbus/variant.ts'

const GUID = '0123456789abcdef0123456789abcdef'

/**
 * A bus that authenticates anyone (and agrees to pass fds, which it never does), then runs `script` with every
 * message-stream byte it gets; `answers` replaces its reply to AUTH or to NEGOTIATE_UNIX_FD (a refusal, an ERROR).
 */
async function fakeBus(
  dir: string, script: (sock: Socket, data: Buffer) => void, answers: { auth?: string; negotiate?: string } = {},
): Promise<{ address: string; close(): void }> {
  const path = join(dir, `fake-${Math.random().toString(36).slice(2)}`)
  const server = createServer((sock) => {
    let authed = false
    let pending = ''
    sock.on('error', () => undefined)
    sock.on('data', (data: Buffer) => {
      if (authed) { script(sock, data); return }
      pending += data.toString('latin1')
      for (let nl = pending.indexOf('\r\n'); nl !== -1 && !authed; nl = pending.indexOf('\r\n')) {
        const line = pending.slice(0, nl).replace(/^\0/, '')
        pending = pending.slice(nl + 2)
        if (line.startsWith('AUTH EXTERNAL')) sock.write(Buffer.from(`${answers.auth ?? `OK ${GUID}`}\r\n`))
        else if (line === 'NEGOTIATE_UNIX_FD') sock.write(Buffer.from(`${answers.negotiate ?? 'AGREE_UNIX_FD'}\r\n`))
        else if (line === 'BEGIN') {
          authed = true
          if (pending !== '') script(sock, Buffer.from(pending, 'latin1'))
        }
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(path, resolve))
  return { address: `unix:path=${path}`, close: () => server.close() }
}

function isOpen(fd: number): boolean {
  try { fstatSync(fd); return true } catch { return false }
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length
}

let dir: string

before(() => { dir = mkdtempSync(join(tmpdir(), 'dbus-wire-')) })
after(() => rmSync(dir, { recursive: true, force: true }))

void describe('against a fake bus', () => {
  void test('a malformed message closes the connection with MalformedMessageError, nothing is thrown', async () => {
    const uncaught: unknown[] = []
    const onUncaught = (e: unknown): void => { uncaught.push(e) }
    process.on('uncaughtException', onUncaught)
    const bus = await fakeBus(dir, (sock) => {
      // A valid-looking start with a bad boolean in the body.
      const { data } = encodeStandalone(signal('/a', 'a.b', 'S', 'b', [true]), 1)
      data[data.length - 4] = 2
      sock.write(data)
    })
    try {
      const conn = await Connection.open(bus.address)
      const closed = new Promise<Error | undefined>((resolve) => conn.onClose(resolve))
      conn.send({ type: 1, path: '/', member: 'Ping' })
      const err = await closed
      assert.ok(err instanceof MalformedMessageError)
      assert.equal(err.code, 'BAD_BOOLEAN')
      assert.equal(conn.closed, true)
      assert.throws(() => conn.send({ type: 1, path: '/', member: 'Ping' }), { code: 'CONNECTION_CLOSED' })
      await new Promise((r) => setTimeout(r, 50))
      assert.deepEqual(uncaught, [])
    } finally {
      process.off('uncaughtException', onUncaught)
      bus.close()
    }
  })

  void test('garbage instead of a message closes the connection too', async () => {
    const bus = await fakeBus(dir, (sock) => { sock.write(Buffer.from('this is not D-Bus at all')) })
    try {
      const conn = await Connection.open(bus.address)
      const closed = new Promise<Error | undefined>((resolve) => conn.onClose(resolve))
      conn.send({ type: 1, path: '/', member: 'Ping' })
      const err = await closed
      assert.ok(err instanceof MalformedMessageError)
      assert.equal(err.code, 'BAD_ENDIAN')
    } finally {
      bus.close()
    }
  })

  void test('pending calls fail when the bus sends garbage', async () => {
    const bus = await fakeBus(dir, (sock, data) => {
      // Answer Hello properly, then garbage.
      if (data.includes('Hello')) sock.write(encodeStandalone(methodReturn({ serial: 1, sender: undefined }, 's', [':1.1']), 1).data)
      else sock.write(Buffer.alloc(16, 0xff))
    })
    try {
      const conn = await BusConnection.connect(bus.address).catch((e: unknown) => e)
      assert.ok(conn instanceof Error)
      assert.match(String(conn), /closed|Malformed|endianness/i)
    } finally {
      bus.close()
    }
  })

  void test('the bus hanging up closes the connection and fails pending calls', async () => {
    const bus = await fakeBus(dir, (sock) => { sock.destroy() })
    try {
      const conn = await BusConnection.connect(bus.address).catch((e: unknown) => e)
      assert.ok(conn instanceof Error)
      assert.equal((conn as { code?: string }).code, 'CONNECTION_CLOSED')
    } finally {
      bus.close()
    }
  })

  void test('fds of a message still queued (the bus stopped reading) are closed when the connection closes', async () => {
    const bus = await fakeBus(dir, (sock) => { sock.pause() })
    try {
      const conn = await Connection.open(bus.address)
      assert.equal(conn.unixFd, true)
      conn.send({ type: 1, path: '/', member: 'Big', signature: 'ay', body: [Buffer.alloc(8 * 1024 * 1024)] })
      const fd = openSync('/dev/null', 'r')
      conn.send({ type: 1, path: '/', member: 'Take', signature: 'h', body: [fd] })
      assert.equal(isOpen(fd), true)
      conn.close()
      assert.equal(isOpen(fd), false)
    } finally {
      bus.close()
    }
  })

  void test('Hello leaves with the handshake, in one write, before any answer', async () => {
    const writes = mock.method(FdSocket.prototype, 'write')
    const bus = await fakeBus(dir, (sock, data) => {
      if (data.includes('Hello')) sock.write(encodeStandalone(methodReturn({ serial: 1, sender: undefined }, 's', [':1.7']), 1).data)
    })
    try {
      const conn = await BusConnection.connect(bus.address, { watchNameOwners: false })
      assert.equal(conn.uniqueName, ':1.7')
      assert.equal(conn.unixFd, true)
      const first = writes.mock.calls[0]!.arguments[0]
      assert.ok(first.toString('latin1').startsWith('\0AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n'))
      assert.ok(first.includes('Hello'))
      conn.close()
    } finally {
      writes.mock.restore()
      bus.close()
    }
  })

  void test('a bus that refuses us: connect rejects with AuthError, Hello or not', async () => {
    const bus = await fakeBus(dir, () => undefined, { auth: 'REJECTED DBUS_COOKIE_SHA1' })
    try {
      await assert.rejects(BusConnection.connect(bus.address), (err: Error) => err instanceof AuthError && /rejected EXTERNAL/.test(err.message))
      await assert.rejects(BusConnection.connect(bus.address, { unixFd: false }), AuthError)
      await assert.rejects(Connection.open(bus.address), AuthError)
    } finally {
      bus.close()
    }
  })

  void test('pipelined: the first call goes out before Hello is answered, behind it, and both are answered', async () => {
    // The fake answers nothing until it has the call as well as Hello: a connection that waited for Hello's answer hangs.
    let seen = Buffer.alloc(0)
    const bus = await fakeBus(dir, (sock, data) => {
      seen = Buffer.concat([seen, data])
      if (!seen.includes('Ping')) return
      assert.ok(seen.indexOf('Hello') < seen.indexOf('Ping'), 'Hello goes first')
      sock.write(encodeStandalone(methodReturn({ serial: 1, sender: undefined }, 's', [':1.9']), 1).data)
      sock.write(encodeStandalone(methodReturn({ serial: 2, sender: undefined }, 's', ['pong']), 1).data)
    })
    try {
      const conn = await BusConnection.connect(bus.address, { watchNameOwners: false, pipelined: true })
      assert.deepEqual(await conn.call('org.example', '/', 'org.example.T', 'Ping', '', []), ['pong'])
      assert.equal(conn.uniqueName, ':1.9')
      conn.close()
    } finally {
      bus.close()
    }
  })

  void test('pipelined: a bus that refuses us fails the calls made meanwhile with the refusal, and closes', async () => {
    const bus = await fakeBus(dir, () => undefined, { auth: 'REJECTED DBUS_COOKIE_SHA1' })
    try {
      const conn = await BusConnection.connect(bus.address, { watchNameOwners: false, pipelined: true })
      await assert.rejects(conn.call('org.example', '/', 'org.example.T', 'Ping', '', []), /closed: The bus rejected EXTERNAL authentication/)
      assert.equal(conn.closed, true)
    } finally {
      bus.close()
    }
  })

  void test('a bus that cannot pass fds: the ERROR is read, no fd is sent, Hello still works', async () => {
    const bus = await fakeBus(dir, (sock, data) => {
      if (data.includes('Hello')) sock.write(encodeStandalone(methodReturn({ serial: 1, sender: undefined }, 's', [':1.8']), 1).data)
    }, { negotiate: 'ERROR "no fds"' })
    try {
      const conn = await BusConnection.connect(bus.address, { watchNameOwners: false })
      assert.equal(conn.uniqueName, ':1.8')
      assert.equal(conn.unixFd, false)
      conn.close()
      const raw = await Connection.open(bus.address, { pipelined: true })
      const fd = openSync('/dev/null', 'r')
      try {
        // Before the answers: no fd may leave; after them, the ERROR means none ever does.
        assert.throws(() => raw.send({ type: 1, path: '/', member: 'Take', signature: 'h', body: [fd] }), { code: 'INVALID_VALUE' })
        await raw.authenticated
        assert.equal(raw.unixFd, false)
        assert.throws(() => raw.send({ type: 1, path: '/', member: 'Take', signature: 'h', body: [fd] }), /did not agree/)
      } finally {
        closeSync(fd)
        raw.close()
      }
    } finally {
      bus.close()
    }
  })

  void test('messages sent in one tick leave in one write', async () => {
    const received: Buffer[] = []
    const bus = await fakeBus(dir, (_sock, data) => { received.push(data) })
    const writes = mock.method(FdSocket.prototype, 'write')
    try {
      const conn = await Connection.open(bus.address)
      writes.mock.resetCalls()
      for (let i = 0; i < 5; i++) conn.send({ type: 4, path: '/a', interface: 'a.b', member: 'S', signature: 'u', body: [i] })
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(writes.mock.callCount(), 1)
      assert.equal(Buffer.concat(received).length, 5 * encodeStandalone(signal('/a', 'a.b', 'S', 'u', [0]), 1).data.length)
      conn.close()
    } finally {
      writes.mock.restore()
      bus.close()
    }
  })
})

void describe('against dbus-daemon', () => {
  let daemon: ChildProcess
  let address: string
  const abstractName = `machined-ts-wire-test-${process.pid}`

  before(async () => {
    // A real component the suite needs (.ci/run installs it): missing is a failure, never a skip.
    assert.equal(spawnSync('dbus-daemon', ['--version']).status, 0, 'dbus-daemon is missing (apt-get install dbus)')
    const config = join(dir, 'bus.conf')
    writeFileSync(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${join(dir, 'bus')}</listen>
  <listen>unix:abstract=${abstractName}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
</busconfig>
`)
    daemon = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'ignore'] })
    address = await new Promise<string>((resolve, reject) => {
      daemon.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))
      daemon.once('exit', () => reject(new Error('dbus-daemon exited')))
    })
  })

  after(() => { daemon.kill() })

  async function pair(): Promise<[BusConnection, BusConnection]> {
    const server = await BusConnection.connect(address)
    const client = await BusConnection.connect(address)
    return [server, client]
  }

  void test('calls, replies, errors and signals', async () => {
    const [server, client] = await pair()
    assert.match(server.uniqueName, /^:1\.\d+$/)
    assert.equal(await server.requestName('org.example.WireTest'), 1)
    server.onCall((call) => {
      if (call.member === 'Echo') server.reply(call, call.signature, call.body)
      else server.replyError(call, 'org.example.Nope', `no ${call.member}`)
    })
    const body = [7, true, -3n, 2n ** 64n - 1n, 0.25, 'h\u00e9', '/o/p', 'a{sv}', Buffer.from([1, 2]), { k: new Variant('s', 'v') }]
    const out = await client.call('org.example.WireTest', '/x', 'org.example.T', 'Echo', 'ybxtdsogaya{sv}', body)
    assert.deepEqual(out, body)
    await assert.rejects(client.call('org.example.WireTest', '/x', 'org.example.T', 'Nope', '', []),
      (e: unknown) => e instanceof DBusError && e.type === 'org.example.Nope' && e.message === 'no Nope')

    const got = new Promise<unknown>((resolve) => { void client.subscribe("type='signal',interface='org.example.T'", (s) => resolve(s.body)) })
    await new Promise((r) => setTimeout(r, 20))
    server.emitSignal('/x', 'org.example.T', 'Changed', 'as', [['a', 'b']])
    assert.deepEqual(await got, [['a', 'b']])
    server.close()
    client.close()
  })

  void test('a 10-MB message, and big variants both ways', async () => {
    const [server, client] = await pair()
    await server.requestName('org.example.Big')
    server.onCall((call) => {
      if (call.member === 'Get') server.reply(call, 'ay', [Buffer.alloc(10 * 1024 * 1024, 0xab)])
      else server.reply(call, call.signature, call.body)
    })
    const [b] = await client.call('org.example.Big', '/', 'org.example.T', 'Get', '', []) as [Buffer]
    assert.equal(b.length, 10 * 1024 * 1024)
    assert.equal(b[b.length - 1], 0xab)
    // Bodies with variants are marshalled aside first; a big one must survive that.
    const big = { a: new Variant('ay', Buffer.alloc(3 * 1024 * 1024, 7)), b: new Variant('s', 'x'.repeat(100_000)) }
    for (let i = 0; i < 2; i++) {
      const [echo] = await client.call('org.example.Big', '/', 'org.example.T', 'Echo', 'a{sv}', [big])
      assert.deepEqual(echo, big)
    }
    server.close()
    client.close()
  })

  void test('a client that passes no fds (node:net, no native socket): calls, errors, a 10-MB reply', async () => {
    const server = await BusConnection.connect(address)
    const client = await BusConnection.connect(address, { unixFd: false, watchNameOwners: false })
    await server.requestName('org.example.Plain')
    server.onCall((call) => {
      if (call.member === 'Get') server.reply(call, 'ay', [Buffer.alloc(10 * 1024 * 1024, 0xcd)])
      else if (call.member === 'Echo') server.reply(call, call.signature, call.body)
      else server.replyError(call, 'org.example.Nope', 'no')
    })
    assert.deepEqual(await client.call('org.example.Plain', '/', 'org.example.T', 'Echo', 'sut', ['x', 7, 9n]), ['x', 7, 9n])
    const [b] = await client.call('org.example.Plain', '/', 'org.example.T', 'Get', '', []) as [Buffer]
    assert.equal(b.length, 10 * 1024 * 1024)
    await assert.rejects(client.call('org.example.Plain', '/', 'org.example.T', 'Nope', '', []), (e: unknown) => e instanceof DBusError)
    // A bus that is not there fails the way a missing socket does.
    await assert.rejects(BusConnection.connect(`unix:path=${join(dir, 'nobody')}`, { unixFd: false }), { code: 'ENOENT' })
    server.close()
    client.close()
  })

  void test('pipelined 2-MB messages with fds while the socket is full: each fd arrives once, with its own message', async () => {
    // Poll sets of connections closed before are let go of on a later turn of the loop.
    await new Promise((r) => setTimeout(r, 50))
    const before = openFds()
    const [server, client] = await pair()
    await server.requestName('org.example.Pipe')
    const seen: { fds: number; text: string; bytes: number; fill: number | undefined }[] = []
    server.onCall((call: IncomingCall) => {
      const [, blob] = call.body as [number, Buffer]
      seen.push({ fds: call.fds.length, text: readFileSync(call.fds[0]!, 'utf8'), bytes: blob.length, fill: blob[blob.length - 1] })
      server.reply(call, 'u', [call.fds.length])
    })
    // Eight calls at once: 16 MB where the socket holds a few hundred KB, so writes stop half way and wait for room.
    const calls = Array.from({ length: 8 }, (_, i) => {
      const file = join(dir, `pipe-${i}`)
      writeFileSync(file, `file ${i}`)
      return client.call('org.example.Pipe', '/', 'org.example.T', 'Take', 'hay', [openSync(file, 'r'), Buffer.alloc(2 * 1024 * 1024, i + 1)])
    })
    assert.deepEqual(await Promise.all(calls), Array.from({ length: 8 }, () => [1]))
    assert.deepEqual(seen, Array.from({ length: 8 }, (_, i) => ({ fds: 1, text: `file ${i}`, bytes: 2 * 1024 * 1024, fill: i + 1 })))
    server.close()
    client.close()
    // Sent fds were closed once the kernel had them, the server's after each reply; the sockets and their poll sets with the connections.
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(openFds(), before)
  })

  void test('an abstract socket address (its name at its exact length, as dbus-daemon binds it)', async () => {
    const bus = await BusConnection.connect(`unix:abstract=${abstractName}`)
    assert.equal(bus.unixFd, true)
    assert.match(bus.uniqueName, /^:1\.\d+$/)
    bus.close()
  })

  void test('fds in both directions; fds nobody takes are closed', async () => {
    const [server, client] = await pair()
    await server.requestName('org.example.Fds')
    const file = join(dir, 'payload')
    writeFileSync(file, 'payload\n')
    let kept: readonly number[] = []
    server.onCall((call: IncomingCall) => {
      if (call.member === 'Open') server.reply(call, 'hs', [openSync(file, 'r'), 'opened'])
      else if (call.member === 'Keep') { kept = server.takeFds(call); server.reply(call, '', []) }
      else server.reply(call, 'u', [call.fds.length]) // 'Drop': the fds are closed after the reply
    })
    const before = openFds()
    // Server → client.
    const [fd, text] = await client.call('org.example.Fds', '/', 'org.example.T', 'Open', '', [], { keepFds: true }) as [number, string]
    assert.equal(text, 'opened')
    assert.equal(readFileSync(fd, 'utf8'), 'payload\n')
    closeSync(fd)
    // Client → server, taken by the handler.
    await client.call('org.example.Fds', '/', 'org.example.T', 'Keep', 'h', [openSync(file, 'r')])
    assert.equal(kept.length, 1)
    assert.equal(readFileSync(kept[0]!, 'utf8'), 'payload\n')
    closeSync(kept[0]!)
    // Client → server, not taken: closed by the connection.
    assert.deepEqual(await client.call('org.example.Fds', '/', 'org.example.T', 'Drop', 'hh', [openSync(file, 'r'), openSync(file, 'r')]), [2])
    // A reply's fds that the caller did not ask to keep are closed too.
    await client.call('org.example.Fds', '/', 'org.example.T', 'Open', '', [])
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(openFds(), before)
    server.close()
    client.close()
  })
})
