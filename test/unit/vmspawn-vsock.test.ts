// machined-vmspawn's vsock notify channel, host side: the notify server
// read over real kernel sockets (socketpairs stand in for the accepted
// AF_VSOCK connections; the server reads both alike) with a peer that
// does exactly what systemd's sd_notify() does over `vsock-stream:` —
// connect, write one message, shut its side down, wait for the host to
// close — plus the limits a hostile guest meets; the guest CID choice;
// and the channel's set-up, which on a host without /dev/vhost-vsock
// (this kind of machine: its kernel has no vhost_vsock) goes without the
// channel and says why, or refuses when vsock was asked for.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, existsSync, readdirSync } from 'node:fs'
import { Socket } from 'node:net'
import { socketPair } from '../../src/backends/native.ts'
import { NotifyServer, type NotifyPeer } from '../../src/vmspawn/notify-server.ts'
import { PreflightError } from '../../src/vmspawn/preflight.ts'
import { chooseGuestCid, cidFromName, openVsockChannel } from '../../src/vmspawn/vsock-channel.ts'
import { vsockAccept, vsockListen } from '../../src/vmspawn/vsock-native.ts'

const openFds = (): number => readdirSync('/proc/self/fd').length

interface Seen {
  messages: { text: string; peer: NotifyPeer }[]
  refused: string[]
}

function server(options: { guestCid?: number; maxConnections?: number; idleTimeoutMs?: number } = {}): { server: NotifyServer; seen: Seen } {
  const seen: Seen = { messages: [], refused: [] }
  const s = new NotifyServer(undefined, { ...options, guestCid: options.guestCid }, {
    onMessage: (m, peer) => seen.messages.push({ text: m.toString(), peer }),
    onRefused: (reason) => seen.refused.push(reason),
  })
  return { server: s, seen }
}

/** The guest's end of one connection; `closed` resolves once the host has closed its end (EOF, or a reset). */
function guestEnd(fd: number): { socket: Socket; closed: Promise<'eof' | 'reset'> } {
  const socket = new Socket({ fd, readable: true, writable: true })
  const closed = new Promise<'eof' | 'reset'>((resolve) => {
    socket.on('data', () => assert.fail('the host never writes on the notify channel'))
    socket.once('end', () => resolve('eof'))
    socket.once('error', () => resolve('reset'))
  })
  return { socket, closed }
}

/** One connection served by `s`, as if accepted from `peer`; the guest's end. */
function connect(s: NotifyServer, peer: NotifyPeer = { cid: 42, port: 1023 }): ReturnType<typeof guestEnd> {
  const [host, guest] = socketPair()
  s.serve(host, peer)
  return guestEnd(guest)
}

/** sd_notify() over vsock-stream: write, shutdown(SHUT_WR), wait for the host's EOF. */
async function sdNotify(s: NotifyServer, message: string, peer?: NotifyPeer): Promise<'eof' | 'reset'> {
  const g = connect(s, peer)
  g.socket.end(message)
  const how = await g.closed
  g.socket.destroy()
  return how
}

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('the notify server', () => {
  test("reads each of systemd's messages to EOF and closes, so that the guest's sd_notify() returns", async () => {
    const fds = openFds()
    const { server: s, seen } = server({ guestCid: 42 })
    try {
      assert.equal(await sdNotify(s, 'X_SYSTEMD_MACHINE_ID=bc7b125b9d8d47ffab31cefb22679654'), 'eof')
      assert.equal(await sdNotify(s, 'READY=1\nSTATUS=Ready.'), 'eof')
      assert.deepEqual(seen.messages.map((m) => m.text), ['X_SYSTEMD_MACHINE_ID=bc7b125b9d8d47ffab31cefb22679654', 'READY=1\nSTATUS=Ready.'])
      assert.deepEqual(seen.messages[0]!.peer, { cid: 42, port: 1023 })
      assert.deepEqual(seen.refused, [])
      assert.equal(s.openConnections, 0)
    } finally {
      s.close()
    }
    await tick()
    assert.ok(openFds() <= fds, 'every socket and the poll set closed')
  })

  test('a message written in pieces is one message; an empty one is one too', async () => {
    const { server: s, seen } = server()
    try {
      const g = connect(s)
      g.socket.write('READY=')
      await tick()
      g.socket.write('1\nSTA')
      await tick()
      g.socket.end('TUS=Ready.')
      assert.equal(await g.closed, 'eof')
      g.socket.destroy()
      assert.equal(await sdNotify(s, ''), 'eof')
      assert.deepEqual(seen.messages.map((m) => m.text), ['READY=1\nSTATUS=Ready.', ''])
    } finally {
      s.close()
    }
  })

  test('a message over 4096 bytes is dropped and its connection closed', async () => {
    const { server: s, seen } = server()
    try {
      assert.equal(await sdNotify(s, 'x'.repeat(4096)), 'eof', 'exactly the limit is fine')
      const g = connect(s)
      g.socket.write('y'.repeat(4097))
      await g.closed
      g.socket.destroy()
      assert.deepEqual(seen.messages.map((m) => m.text.length), [4096])
      assert.deepEqual(seen.refused, ['a message longer than 4096 bytes'])
      assert.equal(s.openConnections, 0)
    } finally {
      s.close()
    }
  })

  test('a connection that never ends its message is closed after the idle timeout', async () => {
    const { server: s, seen } = server({ idleTimeoutMs: 100 })
    try {
      const g = connect(s)
      g.socket.write('READY=1')
      assert.equal(await g.closed, 'eof')
      g.socket.destroy()
      assert.deepEqual(seen.messages, [], 'half a message is no message')
      assert.deepEqual(seen.refused, ['no end of message within 0.1s'])
    } finally {
      s.close()
    }
  })

  test('at most maxConnections at once; a peer that is not the guest is closed unread', async () => {
    const { server: s, seen } = server({ guestCid: 42, maxConnections: 2 })
    const ends: ReturnType<typeof guestEnd>[] = []
    try {
      ends.push(connect(s), connect(s))
      // Closed at once, unread: the guest sees EOF or a reset, whichever its socket meets first.
      const third = connect(s)
      await third.closed
      third.socket.destroy()
      assert.equal(s.openConnections, 2)
      // Another VM (or a local process) on the same port.
      await sdNotify(s, 'READY=1', { cid: 7, port: 1023 })
      assert.deepEqual(seen.refused, ['more than 2 connections at once', "a connection from CID 7, not the guest's 42"])
      assert.deepEqual(seen.messages, [])
      // The two held open end when the server closes.
      s.close()
      assert.deepEqual(await Promise.all(ends.map((e) => e.closed)), ['eof', 'eof'])
    } finally {
      for (const e of ends) e.socket.destroy()
      s.close()
    }
  })
})

describe('AF_VSOCK on this host', () => {
  test('a listener on a kernel-picked port; with no guest connected, accept finds nothing and the server closes it', async () => {
    const fds = openFds()
    const { fd, port } = vsockListen()
    assert.ok(port > 0 && port < 0xffffffff, `port ${port}`)
    assert.equal(vsockAccept(fd), undefined)
    const s = new NotifyServer(fd, { guestCid: 3 }, { onMessage: () => assert.fail('no guest'), onRefused: (r) => assert.fail(r) })
    await tick()
    s.close()
    await tick() // the poll set's epoll fd goes once libuv has let go of it
    assert.ok(openFds() <= fds)
  })
})

describe('the guest CID', () => {
  test('derived from the machine name, in the regular range, the same every time; another name, another CID', () => {
    const a = cidFromName('web', 0)
    assert.equal(cidFromName('web', 0), a)
    assert.notEqual(cidFromName('db', 0), a)
    assert.notEqual(cidFromName('web', 1), a)
    for (let i = 0; i < 200; i++) {
      const cid = cidFromName(`m${i}`, i)
      assert.ok(Number.isInteger(cid) && cid >= 3 && cid <= 0xfffffffd, String(cid))
    }
  })

  test('the first free one; --vsock-cid exactly or not at all; an error that is not EADDRINUSE ends the search', () => {
    const taken = new Set([cidFromName('web', 0), cidFromName('web', 1)])
    const tried: number[] = []
    const trySet = (cid: number): string | undefined => { tried.push(cid); return taken.has(cid) ? 'EADDRINUSE' : undefined }
    assert.deepEqual(chooseGuestCid('web', undefined, trySet), { cid: cidFromName('web', 2) })
    assert.equal(tried.length, 3)
    assert.deepEqual(chooseGuestCid('web', 77, trySet), { cid: 77 })
    assert.deepEqual(chooseGuestCid('web', cidFromName('web', 0), trySet), { error: `CID ${cidFromName('web', 0)} is already in use` })
    assert.deepEqual(chooseGuestCid('web', undefined, () => 'ENOTTY'), { error: 'cannot set a guest CID: ENOTTY' })
    let calls = 0
    assert.deepEqual(chooseGuestCid('web', undefined, () => { calls++; return 'EADDRINUSE' }), { error: 'no free guest CID found' })
    assert.equal(calls, 128, '64 name-derived tries, then 64 random ones (as vmspawn)')
  })
})

describe('setting the channel up', () => {
  test('without /dev/vhost-vsock: auto goes without it and says why; --vsock=yes and --vsock-cid= refuse', () => {
    const device = '/nonexistent/vhost-vsock'
    assert.deepEqual(openVsockChannel('auto', undefined, 'web', { device }), { kind: 'off', reason: `${device}: No such file or directory` })
    assert.deepEqual(openVsockChannel('no', undefined, 'web', { device }), { kind: 'off', reason: undefined })
    assert.throws(() => openVsockChannel('yes', undefined, 'web', { device }),
      (e: unknown) => e instanceof PreflightError && e.message === `--vsock=yes needs vsock, which this host cannot provide: ${device}: No such file or directory (modprobe vhost_vsock)`)
    assert.throws(() => openVsockChannel('auto', 42, 'web', { device }), /^PreflightError: --vsock-cid needs vsock, which this host cannot provide: /)
  })

  test('a device that is no vhost-vsock: no CID can be set on it', () => {
    const fds = openFds()
    assert.deepEqual(openVsockChannel('auto', undefined, 'web', { device: '/dev/null' }), { kind: 'off', reason: 'cannot set a guest CID: ENOTTY' })
    assert.throws(() => openVsockChannel('auto', 42, 'web', { device: '/dev/null' }), /^PreflightError: Cannot use --vsock-cid=42: cannot set CID 42: ENOTTY$/)
    assert.ok(openFds() <= fds, 'the device fd is closed again')
  })

  test('on this host, by what its kernel offers', () => {
    const setup = openVsockChannel('auto', undefined, 'vsock-test')
    if (existsSync('/dev/vhost-vsock')) {
      // A host with vhost_vsock: a CID, a listener, and the credential pointing at it.
      assert.equal(setup.kind, 'on')
      if (setup.kind === 'on') {
        assert.equal(setup.channel.notifySocket, `vsock-stream:2:${setup.channel.port}`)
        new NotifyServer(setup.channel.listenFd, { guestCid: setup.channel.cid }, { onMessage: () => undefined, onRefused: () => undefined }).close()
        closeSync(setup.channel.vhostFd)
      }
    } else {
      // This kind of machine: CONFIG_VHOST_VSOCK is off and modules cannot be loaded.
      assert.deepEqual(setup, { kind: 'off', reason: '/dev/vhost-vsock: No such file or directory' })
    }
  })
})
