// A stand-in system bus for the training runs behind the bins' code caches
// (scripts/build-bins.js, ./train-mctl.js, ./train-spawn.js): a Unix socket
// served from the training process that does the SASL exchange and answers
// each method call with what `answer` returns. Its own code is dist/'s D-Bus
// codec, loaded as another script, so none of it lands in a bundle's cache.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Serves the stand-in. `answer(call, reply)` answers one call through
 * `reply.ok(signature, body)` or `reply.error(name, message)`; a member it
 * does not know gets UnknownMethod. Resolves to the bus's address and a
 * close() that removes the socket.
 */
export async function standInBus(root, answer) {
  const { MessageFramer } = await import(join(root, 'dist/wire/dbus/framer.js'))
  const { decodeMessage, encodeStandalone, errorReply, methodReturn, MessageType } = await import(join(root, 'dist/wire/dbus/message.js'))
  const dir = mkdtempSync(join(tmpdir(), 'machined-ts-train-'))
  const socket = join(dir, 'bus')
  const server = createServer((conn) => {
    let sasl = Buffer.alloc(0)
    const framer = new MessageFramer()
    const send = (call, m) => conn.write(encodeStandalone(m(call), 1).data)
    const reply = (call) => ({
      ok: (signature, body) => { send(call, (c) => methodReturn(c, signature, body)) },
      error: (name, message) => { send(call, (c) => errorReply(c, name, message)) },
    })
    const handle = (call) => {
      const r = reply(call)
      if (call.member === 'Hello') return r.ok('s', [':1.1'])
      if (answer(call, r) === false) return r.error('org.freedesktop.DBus.Error.UnknownMethod', `Unknown method ${call.member}`)
      return undefined
    }
    conn.on('data', (chunk) => {
      if (sasl !== undefined) {
        sasl = Buffer.concat([sasl, chunk])
        const begin = sasl.indexOf('BEGIN\r\n')
        if (begin === -1) return
        const agree = sasl.subarray(0, begin).includes('NEGOTIATE_UNIX_FD\r\n') ? 'AGREE_UNIX_FD\r\n' : ''
        conn.write(`OK 0123456789abcdef0123456789abcdef\r\n${agree}`)
        chunk = sasl.subarray(begin + 7)
        sasl = undefined
      }
      framer.push(chunk)
      for (let f = framer.next(); f !== undefined; f = framer.next()) {
        const call = decodeMessage(f.buf, f.start, f.end)
        if (call.type === MessageType.METHOD_CALL) handle({ ...call, sender: undefined })
      }
    })
    conn.on('error', () => undefined)
  })
  await new Promise((resolve, reject) => server.once('error', reject).listen(socket, resolve))
  return {
    address: `unix:path=${socket}`,
    close: () => {
      server.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
