// The QMP client, against a stand-in qemu speaking the protocol over the
// real socket: greeting, capabilities negotiation, commands matched by id,
// errors, events; and the framing on its own.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { QmpError, QmpFramer, QmpListener } from '../../src/vmspawn/qmp.ts'

describe('QMP framing', () => {
  test('CRLF-separated objects, split anywhere, junk skipped', () => {
    const f = new QmpFramer()
    assert.deepEqual(f.push('{"QMP": {"version": {}}}\r\n{"ret'), [{ QMP: { version: {} } }])
    assert.deepEqual(f.push('urn": {}, "id": 1}\r\nnot json\r\n[1]\r\n\r\n{"event": "POWERDOWN"}\n'), [{ return: {}, id: 1 }, { event: 'POWERDOWN' }])
  })
})

/** A fake qemu: connects like `-chardev socket,path=…`, answers per `answer`. */
function fakeQemu(path: string, answer: (cmd: { execute: string; id: number }, sock: Socket) => void): Promise<{ sock: Socket; received: string[] }> {
  return new Promise((resolve, reject) => {
    const received: string[] = []
    const sock = connect(path, () => {
      sock.write('{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": ["oob"]}}\r\n')
      resolve({ sock, received })
    })
    sock.on('error', reject)
    let buf = ''
    sock.on('data', (c) => {
      buf += c.toString()
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const cmd = JSON.parse(line) as { execute: string; id: number }
        received.push(cmd.execute)
        answer(cmd, sock)
      }
    })
  })
}

describe('QMP session', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'vmspawn-qmp-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  test('commands wait for qemu to connect, are negotiated first, and get their own replies', async () => {
    const path = join(dir, 'a.sock')
    const listener = await QmpListener.listen(path)
    const events: string[] = []
    // A command issued before qemu exists (a signal right after registering) waits for it.
    const early = listener.connection.then(async (c) => { c.onEvent((e) => events.push(e.event)); return c.execute('system_powerdown') })
    const qemu = await fakeQemu(path, (cmd, sock) => {
      if (cmd.execute === 'system_powerdown') sock.write(`{"timestamp": {}, "event": "POWERDOWN"}\r\n{"return": {}, "id": ${cmd.id}}\r\n`)
      else if (cmd.execute === 'system_reset') sock.write(`{"error": {"class": "GenericError", "desc": "no reset today"}, "id": ${cmd.id}}\r\n`)
      else sock.write(`{"return": {}, "id": ${cmd.id}}\r\n`)
    })
    assert.deepEqual(await early, {})
    const conn = await listener.connection
    await assert.rejects(conn.execute('system_reset'), (err: unknown) => err instanceof QmpError && err.errorClass === 'GenericError' && err.message === 'no reset today')
    assert.deepEqual(qemu.received, ['qmp_capabilities', 'system_powerdown', 'system_reset'])
    assert.deepEqual(events, ['POWERDOWN'])

    // qemu going away fails what is pending and what comes later.
    const pending = conn.execute('query-status')
    qemu.sock.destroy()
    await assert.rejects(pending, /closed its QMP connection/)
    await assert.rejects(conn.execute('system_powerdown'), /closed/)
    listener.close()
    assert.equal(existsSync(path), false, 'the socket file goes with the listener')
  })

  test('closing before qemu ever connected fails the connection', async () => {
    const listener = await QmpListener.listen(join(dir, 'b.sock'))
    listener.close()
    await assert.rejects(listener.connection, /never connected/)
  })
})
