'use strict'
// Node's floor for `mctl list` (bench/clients.js, part (b)): a Node process
// that makes the D-Bus calls `machinectl list` needs and nothing else. One
// node:net connection to $DBUS_SYSTEM_BUS_ADDRESS, the SASL handshake with
// Hello and ListMachines sent after it at once, then GetMachineOSRelease
// and GetMachineAddresses for every listed machine at once, and exit after the
// last reply. Messages are built by hand here (no codec is loaded); of the
// replies only the headers are read, and ListMachines' machine names. It
// prints the names, one per line.
//
// What it leaves out, that mctl must do: loading a D-Bus codec and the
// CLI, checking that machined runs (NameHasOwner), decoding the replies,
// and laying out the table.
//
// `node bench/list-floor.cjs native` talks over the socket mctl itself
// uses, the project's addon (native/addon/: a Unix socket connected and
// read by the addon, watched by its poll set), instead of node:net, whose
// modules cost about 3 ms of a start here: the floor of a Node program that
// brings its own socket.
const { writeSync } = require('node:fs')
const { join } = require('node:path')

const BUS = 'org.freedesktop.DBus'
const MACHINE1 = 'org.freedesktop.machine1'
const MANAGER = `${MACHINE1}.Manager`

/** A little-endian METHOD_CALL with at most one string argument. */
function methodCall(serial, destination, path, iface, member, arg) {
  const b = Buffer.alloc(512)
  let o = 16
  const pad = (n) => { while (o % n !== 0) b[o++] = 0 }
  const string = (s) => {
    pad(4)
    o = b.writeUInt32LE(Buffer.byteLength(s), o)
    o += b.write(s, o)
    b[o++] = 0
  }
  const field = (code, type, value) => {
    pad(8)
    b[o++] = code
    b[o++] = 1
    b[o++] = type.charCodeAt(0)
    b[o++] = 0
    if (type === 'g') {
      b[o++] = value.length
      o += b.write(value, o)
      b[o++] = 0
    } else string(value)
  }
  field(1, 'o', path)
  field(2, 's', iface)
  field(3, 's', member)
  field(6, 's', destination)
  if (arg !== undefined) field(8, 'g', 's')
  b.writeUInt32LE(o - 16, 12)
  pad(8)
  const bodyStart = o
  if (arg !== undefined) string(arg)
  b.write('l\x01\x00\x01', 0, 'latin1')
  b.writeUInt32LE(o - bodyStart, 4)
  b.writeUInt32LE(serial, 8)
  return b.subarray(0, o)
}

/** ListMachines' a(ssso): the names. */
function machineNames(body) {
  const names = []
  // The elements start at offset 8 (structs align to 8); the length counts from there.
  const end = 8 + body.readUInt32LE(0)
  let o = 8
  const string = () => {
    o = (o + 3) & ~3
    const n = body.readUInt32LE(o)
    const s = body.toString('utf8', o + 4, o + 4 + n)
    o += 5 + n
    return s
  }
  while (o < end) {
    o = (o + 7) & ~7
    names.push(string())
    string()
    string()
    string()
  }
  return names
}

/** The addon's socket: connect() completes at once; reads come through a poll set, writes are small enough to go at once. */
function nativeSocket(path) {
  const module = { exports: {} }
  process.dlopen(module, join(__dirname, '..', 'native', 'build', 'Release', 'machined_native.node'))
  const addon = module.exports
  const fd = addon.unixConnect(Buffer.from(path))
  const into = Buffer.allocUnsafeSlow(65536)
  const fds = new Int32Array(254) // what receiveFdsInto() wants: room for SCM_MAX_FD fds
  let onData = () => undefined
  const set = addon.pollSetOpen(() => {
    for (;;) {
      let n
      try {
        n = addon.receiveFdsInto(fd, into, fds)
      } catch (err) {
        if (err.code === 'EAGAIN') return
        throw err
      }
      if (n === 0) throw new Error('the bus hung up')
      onData(Buffer.from(into.subarray(0, n)))
    }
  })
  set.ref(true)
  set.add(fd, 1, false, false)
  return {
    write: (data) => { for (let o = 0; o < data.length;) o += writeSync(fd, data, o) },
    on: (_event, handler) => { onData = handler },
  }
}

/**
 * `node bench/list-floor.cjs varlink`: the same list over machined's
 * Varlink socket and the addon's socket, as one io.systemd.Machine.List
 * call with `more` and acquireMetadata "graceful", which brings every
 * machine's os-release and addresses with it. Of the replies only the names
 * are read.
 */
function listOverVarlink() {
  const socket = nativeSocket('/run/systemd/machine/io.systemd.Machine')
  let pending = Buffer.alloc(0)
  const names = []
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk])
    for (let end = pending.indexOf(0); end >= 0; end = pending.indexOf(0)) {
      const reply = JSON.parse(pending.toString('utf8', 0, end))
      pending = pending.subarray(end + 1)
      if (reply.error !== undefined && reply.error !== 'io.systemd.Machine.NoSuchMachine') throw new Error(reply.error)
      if (reply.parameters !== undefined && !reply.parameters.name.startsWith('.')) names.push(reply.parameters.name)
      if (reply.continues !== true) {
        process.stdout.write(names.map((n) => `${n}\n`).join(''))
        process.exit(0)
      }
    }
  })
  socket.write(Buffer.from('{"method":"io.systemd.Machine.List","parameters":{"acquireMetadata":"graceful"},"more":true}\0'))
}

let socket
let serial = 0
let authenticated = false
let pending = Buffer.alloc(0)
let waiting = 0
let listSerial = 0

if (process.argv[2] === 'varlink') listOverVarlink()
else listOverDbus(process.argv[2] === 'native')

function listOverDbus(native) {
  const address = process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/run/dbus/system_bus_socket'
  const path = /unix:path=([^,;]+)/.exec(address)[1]
  socket = native ? nativeSocket(path) : require('node:net').connect(path)
  socket.write(Buffer.concat([
    Buffer.from(`\0AUTH EXTERNAL ${Buffer.from(String(process.getuid())).toString('hex')}\r\nBEGIN\r\n`),
    methodCall(++serial, BUS, '/org/freedesktop/DBus', BUS, 'Hello'),
    methodCall(listSerial = ++serial, MACHINE1, '/org/freedesktop/machine1', MANAGER, 'ListMachines'),
  ]))
  socket.on('data', onData)
}

function onData(chunk) {
  pending = Buffer.concat([pending, chunk])
  if (!authenticated) {
    const eol = pending.indexOf('\r\n')
    if (eol < 0) return
    if (!pending.subarray(0, 3).equals(Buffer.from('OK '))) throw new Error(`auth: ${pending.toString('latin1', 0, eol)}`)
    authenticated = true
    pending = pending.subarray(eol + 2)
  }
  while (pending.length >= 16) {
    const headerEnd = (16 + pending.readUInt32LE(12) + 7) & ~7
    const total = headerEnd + pending.readUInt32LE(4)
    if (pending.length < total) return
    const message = pending.subarray(0, total)
    pending = pending.subarray(total)
    onMessage(message[1], replySerial(message, headerEnd), message.subarray(headerEnd))
  }
}

/** REPLY_SERIAL (header field 5) of a reply or error; 0 for other messages. */
function replySerial(m, headerEnd) {
  let o = 16
  while (o < headerEnd - 4) {
    o = (o + 7) & ~7
    const code = m[o]
    const sigLength = m[o + 1]
    const type = String.fromCharCode(m[o + 2])
    o += 3 + sigLength
    if (type === 'u') {
      o = (o + 3) & ~3
      if (code === 5) return m.readUInt32LE(o)
      o += 4
    } else if (type === 'g') o += m[o] + 2
    else {
      o = (o + 3) & ~3
      o += 5 + m.readUInt32LE(o)
    }
  }
  return 0
}

function onMessage(type, inReplyTo, body) {
  if (type !== 2 && type !== 3) return
  if (inReplyTo === listSerial) {
    if (type === 3) throw new Error('ListMachines failed')
    // Hidden machines (.host) are not listed, as `machinectl list` lists them only with --all.
    const names = machineNames(body).filter((n) => !n.startsWith('.'))
    process.stdout.write(names.map((n) => `${n}\n`).join(''))
    const calls = names.flatMap((n) => [
      methodCall(++serial, MACHINE1, '/org/freedesktop/machine1', MANAGER, 'GetMachineOSRelease', n),
      methodCall(++serial, MACHINE1, '/org/freedesktop/machine1', MANAGER, 'GetMachineAddresses', n),
    ])
    waiting = calls.length
    if (waiting === 0) process.exit(0)
    socket.write(Buffer.concat(calls))
  } else if (inReplyTo > listSerial && --waiting === 0) process.exit(0)
}
