// The generic Varlink server over a real Unix socket in a temp directory,
// with a toy interface. Protects the wire behaviour clients of sd-varlink
// rely on: NUL framing however the bytes arrive, replies in call order
// when calls are pipelined, oneway and more, IDL checks before a method
// runs (InvalidParameter names the field, unknown fields refused), the
// org.varlink.service introspection, and that nothing a client sends
// (bad JSON, half a message, huge messages, too many connections) does
// more than close that one connection.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { VarlinkInterface } from '../../src/protocol/varlink/idl.ts'
import { NoSuchMachineError } from '../../src/protocol/errors.ts'
import { peerCredentialsOf } from '../../src/backends/native.ts'
import { FakeLog } from '../fakes/log.ts'
import { VarlinkServer, type PeerCredentials, type VarlinkServerLimits } from '../../src/transports/varlink/server.ts'
import { RawClient } from '../helpers/varlink-raw.ts'

const TEST_INTERFACE: VarlinkInterface = {
  name: 'org.example.test',
  symbols: [
    { kind: 'enum', name: 'Color', values: [{ name: 'red' }, { name: 'green' }] },
    { kind: 'struct', name: 'Point', fields: [{ name: 'x', type: 'int' }, { name: 'y', type: 'int', nullable: true }] },
    { kind: 'method', name: 'Echo', comment: 'Answers with its text', input: [{ name: 'text', type: 'string' }, { name: 'n', type: 'int', nullable: true }], output: [{ name: 'text', type: 'string' }] },
    { kind: 'method', name: 'Repeat', input: [{ name: 'text', type: 'string' }, { name: 'times', type: 'int' }], output: [{ name: 'text', type: 'string' }] },
    { kind: 'method', name: 'Slow', input: [{ name: 'ms', type: 'int' }], output: [] },
    { kind: 'method', name: 'Count', more: 'supports', input: [{ name: 'to', type: 'int' }], output: [{ name: 'i', type: 'int' }] },
    { kind: 'method', name: 'Needs', more: 'requires', input: [], output: [] },
    { kind: 'method', name: 'Paint', input: [{ name: 'color', type: 'Color' }, { name: 'at', type: 'Point', nullable: true }, { name: 'tags', type: 'string', array: true, nullable: true }], output: [] },
    { kind: 'method', name: 'Boom', input: [], output: [] },
    { kind: 'method', name: 'Gone', input: [], output: [] },
    { kind: 'method', name: 'Unimplemented', input: [], output: [] },
    { kind: 'method', name: 'Who', input: [], output: [{ name: 'uid', type: 'int' }, { name: 'pid', type: 'int' }] },
    { kind: 'error', name: 'Oops', fields: [] },
  ],
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Running {
  readonly server: VarlinkServer
  readonly path: string
  readonly log: FakeLog
  readonly oneway: string[]
}

async function start(dir: string, options: { limits?: Partial<VarlinkServerLimits>; peer?: () => PeerCredentials } = {}): Promise<Running> {
  const log = new FakeLog()
  const oneway: string[] = []
  const server = new VarlinkServer({
    info: { vendor: 'Test Vendor', product: 'test', version: '1.2.3', url: 'https://example.org/' },
    log,
    peerCredentials: options.peer ?? peerCredentialsOf,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  })
  server.addInterface({
    description: TEST_INTERFACE,
    handlers: {
      Echo: async (call) => {
        if (call.oneway) oneway.push(call.parameters.text as string)
        return { text: call.parameters.text }
      },
      Repeat: async (call) => ({ text: (call.parameters.text as string).repeat(call.parameters.times as number) }),
      Slow: async (call) => { await sleep(call.parameters.ms as number); return {} },
      Count: async (call) => {
        const to = call.parameters.to as number
        for (let i = 1; i < to; i++) call.notify({ i })
        return { i: to }
      },
      Needs: async () => ({}),
      Paint: async () => ({}),
      Boom: async () => { throw new Error('a bug') },
      Gone: async () => { throw new NoSuchMachineError('x') },
      Who: async (call) => ({ uid: call.peer.uid, pid: call.peer.pid }),
    },
  })
  const path = join(dir, `s${Math.random().toString(36).slice(2)}`, 'test.sock')
  await server.listen(path)
  return { server, path, log, oneway }
}

describe('Varlink server', () => {
  let dir: string
  let s: Running
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'varlink-test-'))
    s = await start(dir)
  })
  after(async () => {
    await s?.server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('creates its socket with mode 0666 and knows the caller from SO_PEERCRED', async () => {
    assert.equal(statSync(s.path).mode & 0o777, 0o666)
    const c = await RawClient.connect(s.path)
    assert.deepEqual(await c.call('org.example.test.Who'), { parameters: { uid: process.getuid!(), pid: process.pid } })
    c.destroy()
  })

  it('answers org.varlink.service.GetInfo and GetInterfaceDescription', async () => {
    const c = await RawClient.connect(s.path)
    assert.deepEqual(await c.call('org.varlink.service.GetInfo'), {
      parameters: { vendor: 'Test Vendor', product: 'test', version: '1.2.3', url: 'https://example.org/', interfaces: ['org.example.test', 'org.varlink.service'] },
    })
    const d = await c.call('org.varlink.service.GetInterfaceDescription', { interface: 'org.example.test' })
    const text = (d.parameters as { description: string }).description
    assert.match(text, /^interface org\.example\.test\n/)
    assert.match(text, /\n# Answers with its text\nmethod Echo\(text: string, n: \?int\) -> \(text: string\)\n/)
    assert.match(text, /\ntype Color\(red, green\)\n/)
    const service = await c.call('org.varlink.service.GetInterfaceDescription', { interface: 'org.varlink.service' })
    assert.match((service.parameters as { description: string }).description, /\nmethod GetInterfaceDescription\(interface: string\) -> \(description: string\)\n/)
    assert.deepEqual(await c.call('org.varlink.service.GetInterfaceDescription', { interface: 'com.example.nope' }),
      { error: 'org.varlink.service.InterfaceNotFound', parameters: { interface: 'com.example.nope' } })
    assert.deepEqual(await c.call('org.varlink.service.GetInfo', { extra: 1 }),
      { error: 'org.varlink.service.InvalidParameter', parameters: { parameter: 'extra' } })
    c.destroy()
  })

  it('splits frames however they arrive and answers pipelined calls in order', async () => {
    const c = await RawClient.connect(s.path)
    // A slow call first: the fast ones behind it must still be answered after it.
    const calls = [{ method: 'org.example.test.Slow', parameters: { ms: 50 } }, ...[1, 2, 3].map((n) => ({ method: 'org.example.test.Echo', parameters: { text: `t${n}` } }))]
    const bytes = Buffer.from(calls.map((x) => `${JSON.stringify(x)}\0`).join(''))
    for (let i = 0; i < bytes.length; i += 7) { c.send(bytes.subarray(i, i + 7)); await sleep(0) }
    assert.deepEqual(await c.next(), { parameters: {} })
    for (const n of [1, 2, 3]) assert.deepEqual(await c.next(), { parameters: { text: `t${n}` } })
    // And many in one write.
    c.send(Buffer.from(Array.from({ length: 200 }, (_, i) => `${JSON.stringify({ method: 'org.example.test.Echo', parameters: { text: String(i) } })}\0`).join('')))
    for (let i = 0; i < 200; i++) assert.deepEqual(await c.next(), { parameters: { text: String(i) } })
    c.destroy()
  })

  it('runs oneway calls without a reply, and streams replies with continues for more', async () => {
    const c = await RawClient.connect(s.path)
    c.send({ method: 'org.example.test.Echo', parameters: { text: 'quiet' }, oneway: true })
    c.send({ method: 'org.example.test.Nope', oneway: true })
    c.send({ method: 'org.example.test.Count', parameters: { to: 3 }, more: true })
    assert.deepEqual(await c.next(), { parameters: { i: 1 }, continues: true })
    assert.deepEqual(await c.next(), { parameters: { i: 2 }, continues: true })
    assert.deepEqual(await c.next(), { parameters: { i: 3 } })
    assert.deepEqual(s.oneway, ['quiet'])
    // Without more, a method that supports it answers once; one that requires it refuses.
    assert.deepEqual(await c.call('org.example.test.Count', { to: 1 }), { parameters: { i: 1 } })
    assert.deepEqual(await c.call('org.example.test.Needs'), { error: 'org.varlink.service.ExpectedMore', parameters: {} })
    assert.deepEqual(await c.call('org.example.test.Needs', {}, { more: true }), { parameters: {} })
    c.destroy()
  })

  it('names unknown methods and interfaces MethodNotFound, as sd-varlink does', async () => {
    const c = await RawClient.connect(s.path)
    assert.deepEqual(await c.call('org.example.test.Nope'), { error: 'org.varlink.service.MethodNotFound', parameters: { method: 'org.example.test.Nope' } })
    assert.deepEqual(await c.call('com.example.Other.Method'), { error: 'org.varlink.service.MethodNotFound', parameters: { method: 'com.example.Other.Method' } })
    assert.deepEqual(await c.call('NoDots'), { error: 'org.varlink.service.MethodNotFound', parameters: { method: 'NoDots' } })
    assert.deepEqual(await c.call('org.example.test.Unimplemented'), { error: 'org.varlink.service.MethodNotImplemented', parameters: { method: 'org.example.test.Unimplemented' } })
    c.destroy()
  })

  it('checks parameters against the IDL and names the first bad field', async () => {
    const c = await RawClient.connect(s.path)
    const bad = (parameter: string): unknown => ({ error: 'org.varlink.service.InvalidParameter', parameters: { parameter } })
    assert.deepEqual(await c.call('org.example.test.Echo', {}), bad('text'))
    assert.deepEqual(await c.call('org.example.test.Echo', { text: 5 }), bad('text'))
    assert.deepEqual(await c.call('org.example.test.Echo', { text: null }), bad('text'))
    assert.deepEqual(await c.call('org.example.test.Echo', { text: 'a', n: 1.5 }), bad('n'))
    assert.deepEqual(await c.call('org.example.test.Echo', { text: 'a', n: true }), bad('n'))
    // Unknown fields are refused (sd_varlink_dispatch() allows no extensions), after the declared ones.
    assert.deepEqual(await c.call('org.example.test.Echo', { bogus: 1, text: 'a' }), bad('bogus'))
    assert.deepEqual(await c.call('org.example.test.Echo', { bogus: 1 }), bad('text'))
    assert.deepEqual(await c.call('org.example.test.Paint', { color: 'blue' }), bad('color'))
    assert.deepEqual(await c.call('org.example.test.Paint', { color: 'red', at: { y: 1 } }), bad('at'))
    assert.deepEqual(await c.call('org.example.test.Paint', { color: 'red', at: { x: 1, z: 2 } }), bad('at'))
    assert.deepEqual(await c.call('org.example.test.Paint', { color: 'red', tags: ['a', 1] }), bad('tags'))
    assert.deepEqual(await c.call('org.example.test.Paint', { color: 'red', at: { x: '7' }, tags: [] }), { parameters: {} })
    // Absurd nesting is just a wrong type.
    c.send(`{"method":"org.example.test.Echo","parameters":{"text":${'['.repeat(500_000)}${']'.repeat(500_000)}}}\0`)
    assert.deepEqual(await c.next(), bad('text'))
    // Null and absent parameters are the same empty object.
    c.send({ method: 'org.example.test.Needs', parameters: null, more: true })
    assert.deepEqual(await c.next(), { parameters: {} })
    c.send({ method: 'org.example.test.Needs', more: true })
    assert.deepEqual(await c.next(), { parameters: {} })
    c.destroy()
  })

  it('maps thrown errors: catalogue codes by the table, bugs to io.systemd.System EIO (logged)', async () => {
    const c = await RawClient.connect(s.path)
    assert.deepEqual(await c.call('org.example.test.Gone'), { error: 'io.systemd.Machine.NoSuchMachine', parameters: {} })
    assert.deepEqual(await c.call('org.example.test.Boom'), { error: 'io.systemd.System', parameters: { origin: 'linux', errno: 5, errnoName: 'EIO' } })
    assert.ok(s.log.messages('error').includes('Varlink method failed'))
    c.destroy()
  })

  for (const [what, bytes] of [
    ['malformed JSON', '{"method": "org.example.test.Echo",\0'],
    ['a message that is not an object', '["org.example.test.Echo"]\0'],
    ['an empty message', '\0'],
    ['an unknown message field', '{"method":"org.example.test.Echo","parameters":{"text":"x"},"bogus":true}\0'],
    ['oneway together with more', '{"method":"org.example.test.Count","parameters":{"to":1},"more":true,"oneway":false}\0'],
    ['a method that is not a string', '{"method":1}\0'],
    ['no method', '{"parameters":{}}\0'],
    ['parameters that are not an object', '{"method":"org.example.test.Echo","parameters":[1]}\0'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0])],
  ] as const) {
    it(`closes the connection without a reply on ${what}, after answering earlier calls`, async () => {
      const c = await RawClient.connect(s.path)
      c.send({ method: 'org.example.test.Slow', parameters: { ms: 20 } })
      c.send(bytes)
      c.send({ method: 'org.example.test.Echo', parameters: { text: 'never' } })
      assert.deepEqual(await c.next(), { parameters: {} })
      assert.equal(await c.next(), undefined)
      assert.equal(c.closed, true)
      // The server goes on serving everyone else.
      const d = await RawClient.connect(s.path)
      assert.deepEqual(await d.call('org.example.test.Echo', { text: 'fine' }), { parameters: { text: 'fine' } })
      d.destroy()
    })
  }

  it('drops half a message when the client closes, and answers calls before a half-close', async () => {
    const c = await RawClient.connect(s.path)
    c.send('{"method":"org.example.test.Echo","parameters":{"text":"cut')
    c.end()
    assert.equal(await c.next(), undefined)
    const d = await RawClient.connect(s.path)
    d.send({ method: 'org.example.test.Slow', parameters: { ms: 30 } })
    d.send({ method: 'org.example.test.Echo', parameters: { text: 'last' } })
    d.end()
    assert.deepEqual(await d.next(), { parameters: {} })
    assert.deepEqual(await d.next(), { parameters: { text: 'last' } })
    assert.equal(await d.next(), undefined)
  })

  it('survives a client that goes away in the middle of a call', async () => {
    const c = await RawClient.connect(s.path)
    c.send({ method: 'org.example.test.Slow', parameters: { ms: 50 } })
    await sleep(10)
    c.destroy()
    await sleep(80)
    const d = await RawClient.connect(s.path)
    assert.deepEqual(await d.call('org.example.test.Echo', { text: 'ok' }), { parameters: { text: 'ok' } })
    d.destroy()
  })

  it('takes messages of 64 KiB and more whole', async () => {
    const c = await RawClient.connect(s.path)
    const text = 'x'.repeat(200 * 1024)
    assert.deepEqual(await c.call('org.example.test.Echo', { text }), { parameters: { text } })
    c.destroy()
  })
})

describe('Varlink server limits', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'varlink-limits-')) })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('answers ENOBUFS and closes when a message passes the size limit; one at the limit passes', async () => {
    const s = await start(dir, { limits: { maxMessageSize: 1024 } })
    const c = await RawClient.connect(s.path)
    const head = '{"method":"org.example.test.Echo","parameters":{"text":"'
    const exact = `${head}${'a'.repeat(1024 - head.length - 3)}"}}`
    assert.equal(exact.length, 1024)
    assert.equal(((await c.call('org.example.test.Echo', (JSON.parse(exact) as { parameters: Record<string, unknown> }).parameters)).parameters as { text: string }).text.length, 1024 - head.length - 3)
    c.send(`${exact} \0`)
    assert.deepEqual(await c.next(), { error: 'io.systemd.System', parameters: { origin: 'linux', errno: 105, errnoName: 'ENOBUFS' } })
    assert.equal(await c.next(), undefined)
    // A flood without any NUL is cut off the same way.
    const d = await RawClient.connect(s.path)
    d.send('x'.repeat(4096))
    assert.equal((await d.next())?.error, 'io.systemd.System')
    assert.equal(await d.waitClosed(), true)
    // Replies over the limit are refused the same way, without closing.
    const e = await RawClient.connect(s.path)
    assert.deepEqual(await e.call('org.example.test.Repeat', { text: 'abcd', times: 1000 }), { error: 'io.systemd.System', parameters: { origin: 'linux', errno: 105, errnoName: 'ENOBUFS' } })
    assert.deepEqual(await e.call('org.example.test.Echo', { text: 'still here' }), { parameters: { text: 'still here' } })
    e.destroy()
    await s.server.close()
  })

  it('keeps answering in order when more calls are pipelined than it queues', async () => {
    const s = await start(dir, { limits: { maxQueuedCalls: 2 } })
    const c = await RawClient.connect(s.path)
    c.send(Buffer.from(Array.from({ length: 300 }, (_, i) => `${JSON.stringify({ method: 'org.example.test.Echo', parameters: { text: String(i) } })}\0`).join('')))
    for (let i = 0; i < 300; i++) assert.deepEqual(await c.next(), { parameters: { text: String(i) } })
    c.destroy()
    await s.server.close()
  })

  it('refuses connections over the total and per-UID limits with ETOOMANYREFS, and frees the slots on close', async () => {
    let uid = 1000
    const s = await start(dir, { limits: { maxConnections: 3, maxConnectionsPerUid: 2 }, peer: () => ({ uid, gid: uid, pid: 4242 }) })
    const a = await RawClient.connect(s.path)
    const b = await RawClient.connect(s.path)
    const tooMany = { error: 'io.systemd.System', parameters: { origin: 'linux', errno: 109, errnoName: 'ETOOMANYREFS' } }
    const refusedUid = await RawClient.connect(s.path)
    refusedUid.send({ method: 'org.example.test.Echo', parameters: { text: 'no' } })
    assert.deepEqual(await refusedUid.next(), tooMany)
    assert.equal(await refusedUid.waitClosed(), true)
    uid = 1001
    const c = await RawClient.connect(s.path)
    const refusedAll = await RawClient.connect(s.path)
    assert.deepEqual(await refusedAll.next(), tooMany)
    assert.equal(await refusedAll.waitClosed(), true)
    for (const x of [a, b, c]) assert.deepEqual(await x.call('org.example.test.Echo', { text: 'up' }), { parameters: { text: 'up' } })
    a.destroy()
    while (s.server.connectionCount > 2) await sleep(5)
    const d = await RawClient.connect(s.path)
    assert.deepEqual(await d.call('org.example.test.Echo', { text: 'again' }), { parameters: { text: 'again' } })
    assert.equal(s.server.connectionCount, 3)
    for (const x of [b, c, d]) x.destroy()
    await s.server.close()
  })

  it('replaces a stale socket file at start, refuses to replace anything else, and removes its socket on close', async () => {
    const s1 = await start(dir)
    const path = s1.path
    // A daemon that died leaves its socket file behind.
    const s2 = new VarlinkServer({ info: { vendor: '', product: '', version: '', url: '' }, log: new FakeLog(), peerCredentials: peerCredentialsOf })
    await s2.listen(path)
    const c = await RawClient.connect(path)
    assert.deepEqual((await c.call('org.varlink.service.GetInfo')).parameters, { vendor: '', product: '', version: '', url: '', interfaces: ['org.varlink.service'] })
    c.destroy()
    await s2.close()
    await s1.server.close()
    assert.throws(() => statSync(path), { code: 'ENOENT' })
    const s3 = new VarlinkServer({ info: { vendor: '', product: '', version: '', url: '' }, log: new FakeLog(), peerCredentials: peerCredentialsOf })
    await assert.rejects(s3.listen(dir), /is not a socket/)
  })
})
