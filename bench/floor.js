#!/usr/bin/env node
// Node's floor for a Register+Unregister pair (bench/clients.js, part
// (c)): the least a Node process can do per pair, measured with the same
// client as machined-ts, so that the ratio goals can be told apart from
// what Node itself costs on this machine.
//
//   --mode=reply     Varlink: answers every call with empty parameters,
//                    doing no work;
//   --mode=syscalls  Varlink: makes the system calls a registration must
//                    make and nothing else: it pins the leader (pidfd_open,
//                    its stat, a signal 0, fstat, an exit watch in an epoll
//                    set), reads its cgroup for the unit, writes the state
//                    file through a temporary file and rename(2), links
//                    unit:<unit>; and on Unregister drops the watch and the
//                    pidfd, reads and removes the link, removes the state
//                    file. After each reply it writes 200 bytes to --sink,
//                    where a daemon sends its MachineNew/MachineRemoved
//                    signal to the bus. systemd-machined makes the same
//                    calls for a leader in a scope of its own; machined-ts
//                    makes these and no more (strace -c of a round: 24 per
//                    pair);
//   --mode=dbus      the same system calls behind RegisterMachine and
//                    UnregisterMachine on the bus at --bus (as
//                    org.freedesktop.machine1), through machined-ts's own
//                    D-Bus connection code (dist/wire/dbus, the native
//                    socket, replies and signals flushed once per event-loop
//                    turn as the daemon's are), with the real
//                    MachineNew/MachineRemoved signals;
//   --mode=sink      reads and drops whatever --socket receives (the "bus").
//
// No validation, no registry, no errors: a floor, not a daemon. The
// Varlink socket code is node:net's, as machined-ts's Varlink server's is.
// Prints "ready" once serving.
import { closeSync, mkdirSync, openSync, readlinkSync, readSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fdInode, pidfdOpen, pidfdSendSignal } from '../dist/native/pidfd.js'
import { pollSetOpen } from '../dist/native/poll-set.js'
import { machineObjectPath } from '../dist/protocol/bus-path.js'
import { BusConnection } from '../dist/wire/dbus/bus.js'

const { values } = parseArgs({ options: { mode: { type: 'string' }, socket: { type: 'string' }, sink: { type: 'string' }, bus: { type: 'string' }, 'state-dir': { type: 'string' } } })
const { mode, socket } = values
const USAGE = 'usage: floor.js --mode=reply|syscalls|sink --socket=PATH [--sink=PATH --state-dir=DIR] | --mode=dbus --bus=ADDRESS --state-dir=DIR'
if (mode === 'dbus' ? values.bus === undefined : !['reply', 'syscalls', 'sink'].includes(mode ?? '') || socket === undefined) throw new Error(USAGE)

function listen(onConnection) {
  rmSync(socket, { force: true })
  createServer(onConnection).listen(socket, () => process.stdout.write('ready\n'))
}

/** Calls `onCall(message)` for each NUL-terminated JSON message of `s`, and sends back what it returns. */
function serveVarlink(s, onCall) {
  let buffered = ''
  s.setEncoding('utf8')
  s.on('data', (chunk) => {
    buffered += chunk
    for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end))
      buffered = buffered.slice(end + 1)
      s.write(`${JSON.stringify({ parameters: onCall(message) })}\0`)
    }
  })
  s.on('error', () => s.destroy())
}

/** `register(leader, name, service, cls)` and `unregister(name)`: a registration's system calls. */
function registrationCalls(stateDir) {
  mkdirSync(stateDir, { recursive: true })
  const exits = pollSetOpen(() => {})
  const page = Buffer.alloc(16384)
  const readProc = (path) => {
    const fd = openSync(path, 'r')
    try {
      return page.toString('latin1', 0, readSync(fd, page))
    } finally {
      closeSync(fd)
    }
  }
  const machines = new Map()
  let serial = 0
  return {
    register(leader, name, service, cls) {
      const pidfd = pidfdOpen(leader)
      readProc(`/proc/${leader}/stat`)
      pidfdSendSignal(pidfd, 0)
      fdInode(pidfd)
      exits.add(pidfd, pidfd, true)
      const unit = readProc(`/proc/${leader}/cgroup`).split('\n', 1)[0].split('/').pop()
      const tmp = join(stateDir, `.#${name}.${++serial}`)
      writeFileSync(tmp, `NAME=${name}\nSCOPE=${unit}\nSERVICE=${service}\nCLASS=${cls}\nLEADER=${leader}\n`, { mode: 0o644 })
      renameSync(tmp, join(stateDir, name))
      symlinkSync(name, join(stateDir, `unit:${unit}`))
      machines.set(name, { pidfd, unit })
    },
    unregister(name) {
      const m = machines.get(name)
      machines.delete(name)
      exits.remove(m.pidfd)
      closeSync(m.pidfd)
      const link = join(stateDir, `unit:${m.unit}`)
      if (readlinkSync(link) === name) unlinkSync(link)
      unlinkSync(join(stateDir, name))
    },
  }
}

/** Varlink's Register and Unregister over registrationCalls(), each followed by 200 bytes to the sink. */
function varlinkCalls(sinkPath, stateDir) {
  const calls = registrationCalls(stateDir)
  const bus = connect(sinkPath)
  const signal = Buffer.alloc(200, 0x6c)
  return ({ method, parameters: p }) => {
    if (method === 'io.systemd.Machine.Register') calls.register(p.leader, p.name, p.service, p.class)
    else if (method === 'io.systemd.Machine.Unregister') calls.unregister(p.name)
    // After the reply, as a daemon sends its signal: the same tick, the next write.
    queueMicrotask(() => bus.write(signal))
    return {}
  }
}

/** RegisterMachine and UnregisterMachine on the bus over registrationCalls(), with their signals. */
async function serveDbus(address, stateDir) {
  const calls = registrationCalls(stateDir)
  const bus = await BusConnection.connect(address, { flush: 'turn' })
  const MANAGER = 'org.freedesktop.machine1.Manager'
  bus.onCall((call) => {
    const [name] = call.body
    if (call.member === 'RegisterMachine') {
      const [, , service, cls, leader] = call.body
      calls.register(leader, name, service, cls)
      bus.reply(call, 'o', [machineObjectPath(name)])
      bus.emitSignal('/org/freedesktop/machine1', MANAGER, 'MachineNew', 'so', [name, machineObjectPath(name)])
    } else if (call.member === 'UnregisterMachine') {
      calls.unregister(name)
      bus.reply(call, '', [])
      bus.emitSignal('/org/freedesktop/machine1', MANAGER, 'MachineRemoved', 'so', [name, machineObjectPath(name)])
    } else bus.replyError(call, 'org.freedesktop.DBus.Error.UnknownMethod', `${call.member} is not served here`)
  })
  await bus.requestName('org.freedesktop.machine1')
  process.stdout.write('ready\n')
}

if (mode === 'sink') listen((s) => s.resume())
else if (mode === 'dbus') await serveDbus(values.bus, values['state-dir'])
else {
  // One registry, exit watch and bus connection for every client, as a daemon has.
  const onCall = mode === 'reply' ? () => ({}) : varlinkCalls(values.sink, values['state-dir'])
  listen((s) => serveVarlink(s, onCall))
}
