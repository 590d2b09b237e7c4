// The training run behind mctl's code cache (scripts/build-bins.js): before
// V8's cache of dist/cli/mctl.bundle.cjs is written, the bundle runs `mctl
// list` once against a stand-in bus served from this process, so that the
// cache also holds the functions that verb runs (option parsing, the bus
// handshake, the message codec, the table), not only the bundle's top
// level. V8 compiles a function when it first runs; a cache made without
// running anything leaves all of that to be compiled again on every start
// (about 6 ms of `mctl list`, bench/README.md).
//
// The stand-in answers what `mctl list` asks (Hello, NameHasOwner,
// ListMachines, and for each machine GetMachineOSRelease and a
// GetMachineAddresses that fails as it does for a container without a
// network namespace of its own) with made-up machines. Its own code is
// dist/'s D-Bus codec, another script, so none of it lands in the cache.
// What mctl prints goes nowhere: build-bins.js runs this with stdout on /dev/null.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const MACHINES = 4

/** Runs `mctl list` through `runMctl` (the bundle's export) against a stand-in bus; rejects when it fails. */
export async function train({ runMctl }, { root }) {
  const { MessageFramer } = await import(join(root, 'dist/wire/dbus/framer.js'))
  const { decodeMessage, encodeStandalone, errorReply, methodReturn, MessageType } = await import(join(root, 'dist/wire/dbus/message.js'))
  const dir = mkdtempSync(join(tmpdir(), 'mctl-train-'))
  const socket = join(dir, 'bus')
  const server = createServer((conn) => {
    let sasl = Buffer.alloc(0)
    const framer = new MessageFramer()
    const reply = (call, m) => conn.write(encodeStandalone(m(call), 1).data)
    const answer = (call) => {
      const ok = (signature, body) => reply(call, (c) => methodReturn(c, signature, body))
      switch (call.member) {
        case 'Hello': return ok('s', [':1.1'])
        case 'NameHasOwner': return ok('b', [true])
        case 'ListMachines': return ok('a(ssso)', [Array.from({ length: MACHINES }, (_, i) => [`train${i}`, 'container', 'train', `/org/freedesktop/machine1/machine/train${i}`])])
        case 'GetMachineOSRelease': return ok('a{ss}', [new Map([['ID', 'debian'], ['VERSION_ID', '12']])])
        case 'GetMachineAddresses': return reply(call, (c) => errorReply(c, 'org.freedesktop.machine1.NoPrivateNetworking', `Machine ${call.body[0]} does not use private networking`))
        default: return reply(call, (c) => errorReply(c, 'org.freedesktop.DBus.Error.UnknownMethod', `Unknown method ${call.member}`))
      }
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
        if (call.type === MessageType.METHOD_CALL) answer({ ...call, sender: undefined })
      }
    })
    conn.on('error', () => undefined)
  })
  await new Promise((resolve, reject) => server.once('error', reject).listen(socket, resolve))
  // Only the stand-in's address: nothing of the builder's environment ($MACHINED_FLEET_ETCD, $COLUMNS) may steer the run.
  const saved = process.env
  process.env = { PATH: saved.PATH, LANG: 'C.UTF-8', DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${socket}` }
  try {
    const code = await runMctl(['list'])
    if (code !== 0) throw new Error(`mctl list exited with ${code} in the training run`)
  } finally {
    process.env = saved
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
