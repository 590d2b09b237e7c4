// Replies that pass fds (sd_varlink_push_fd(), which Open uses for the
// pty's master): the reply goes through the fd sender with its fds, after
// every earlier reply, and the fds are closed once sent, or when the call
// fails; a server without a sender answers PermissionDenied, as sd-varlink
// does on a connection that may not pass fds. The real sender (sendWithFds)
// is run by test/unit/fd-passing.test.ts and end to end by
// test/e2e/shell-login.test.ts.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { VarlinkInterface } from '../../src/protocol/varlink/idl.ts'
import { peerCredentialsOf } from '../../src/backends/native.ts'
import { FakeLog } from '../fakes/log.ts'
import { VarlinkServer, type VarlinkServerOptions } from '../../src/transports/varlink/server.ts'
import { RawClient } from '../helpers/varlink-raw.ts'

const IFACE: VarlinkInterface = {
  name: 'org.example.fds',
  symbols: [
    { kind: 'method', name: 'Open', input: [{ name: 'fail', type: 'bool', nullable: true }], output: [{ name: 'fd', type: 'int' }, { name: 'can', type: 'bool' }] },
    { kind: 'method', name: 'Echo', input: [{ name: 'text', type: 'string' }], output: [{ name: 'text', type: 'string' }] },
  ],
}

function isOpen(fd: number): boolean {
  try { fstatSync(fd); return true } catch { return false }
}

const dir = mkdtempSync(join(tmpdir(), 'vl-fds-'))
after(() => rmSync(dir, { recursive: true, force: true }))

async function serve(fdSender: VarlinkServerOptions['fdSender']): Promise<{ server: VarlinkServer; client: RawClient; opened: number[] }> {
  const opened: number[] = []
  const server = new VarlinkServer({ info: { vendor: 'v', product: 'p', version: '1', url: '' }, log: new FakeLog(), peerCredentials: peerCredentialsOf, ...(fdSender === undefined ? {} : { fdSender }) })
  server.addInterface({
    description: IFACE,
    handlers: {
      Open: async (call) => {
        const fd = openSync('/dev/null', 'r')
        opened.push(fd)
        const index = call.pushFd(fd)
        if (call.parameters.fail === true) throw new Error('failed after pushing')
        return { fd: index, can: call.canPassFds }
      },
      Echo: async (call) => ({ text: call.parameters.text }),
    },
  })
  const path = join(dir, `${Math.random().toString(36).slice(2)}.sock`)
  await server.listen(path)
  return { server, client: await RawClient.connect(path), opened }
}

void describe('Varlink replies with fds', () => {
  it('go through the fd sender with their fds, in order with the other replies; the fds are closed once sent', async () => {
    const sent: { text: string; fds: readonly number[]; open: boolean[] }[] = []
    const sender = async (socket: Socket, data: Buffer, fds: readonly number[]): Promise<void> => {
      sent.push({ text: data.toString('utf8'), fds: [...fds], open: fds.map(isOpen) })
      socket.write(data) // stands in for sendmsg(): the bytes reach the client
    }
    const { server, client, opened } = await serve(sender)
    client.send({ method: 'org.example.fds.Echo', parameters: { text: 'first' } })
    client.send({ method: 'org.example.fds.Open', parameters: {} })
    client.send({ method: 'org.example.fds.Echo', parameters: { text: 'last' } })
    assert.deepEqual(await client.next(), { parameters: { text: 'first' } })
    assert.deepEqual(await client.next(), { parameters: { fd: 0, can: true } })
    assert.deepEqual(await client.next(), { parameters: { text: 'last' } })
    assert.equal(sent.length, 1)
    assert.deepEqual(sent[0]!.fds, opened)
    assert.deepEqual(sent[0]!.open, [true])
    assert.equal(sent[0]!.text, `${JSON.stringify({ parameters: { fd: 0, can: true } })}\0`)
    assert.equal(isOpen(opened[0]!), false)
    client.destroy()
    await server.close()
  })

  it('a call that fails after pushing an fd closes it and sends none', async () => {
    let calls = 0
    const { server, client, opened } = await serve(async () => { calls++ })
    const r = await client.call('org.example.fds.Open', { fail: true })
    assert.equal(typeof r.error, 'string')
    assert.equal((r.parameters as Record<string, unknown> | undefined)?.fd, undefined)
    assert.equal(calls, 0)
    assert.equal(isOpen(opened[0]!), false)
    client.destroy()
    await server.close()
  })

  it('without a sender: PermissionDenied, and the fd stays the handler\'s (sd_varlink_push_fd() takes it only on success)', async () => {
    const { server, client, opened } = await serve(undefined)
    assert.deepEqual(await client.call('org.example.fds.Open'), { error: 'org.varlink.service.PermissionDenied', parameters: {} })
    assert.equal(isOpen(opened[0]!), true)
    closeSync(opened[0]!)
    client.destroy()
    await server.close()
  })
})
