// OpenMachineShell against a hostile machine. A bus that has systemd on it
// but refuses to pass fds (or goes away) must cost the daemon no fd: the
// pty comes from the real machined-enter (on the host: the machine is
// ".host"); the bus is a small fake that speaks just enough D-Bus (SASL
// without NEGOTIATE_UNIX_FD, Hello, GetNameOwner). A guest without systemd
// whose /etc/passwd is a FIFO must not hold the call (and its operation)
// for ever.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { MachineTerminals } from '../../src/backends/terminals.ts'
import { decodeMessage, encodeStandalone, FIXED_HEADER_BYTES, messageLength, methodReturn } from '../../src/wire/dbus/message.ts'
import type { Log } from '../../src/core/ports.ts'

const quiet: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

let dir: string
let server: Server

/** Answers Hello and GetNameOwner; never agrees to pass fds. */
function serve(socket: Socket): void {
  let text = ''
  let binary: Buffer | undefined
  let serial = 0
  socket.on('data', (chunk: Buffer) => {
    if (binary === undefined) {
      text += chunk.toString('latin1')
      for (let nl = text.indexOf('\r\n'); nl >= 0; nl = text.indexOf('\r\n')) {
        const line = text.slice(0, nl).replace(/^\0/, '')
        text = text.slice(nl + 2)
        if (line.startsWith('AUTH')) socket.write(`OK ${'0'.repeat(32)}\r\n`)
        else if (line === 'NEGOTIATE_UNIX_FD') socket.write('ERROR fd passing is not for you\r\n')
        else if (line === 'BEGIN') { binary = Buffer.from(text, 'latin1'); text = ''; break }
      }
      if (binary === undefined) return
    } else {
      binary = Buffer.concat([binary, chunk])
    }
    while (binary.length >= FIXED_HEADER_BYTES) {
      const length = messageLength(binary, 0)
      if (binary.length < length) break
      const call = decodeMessage(binary, 0, length)
      binary = binary.subarray(length)
      const answer = call.member === 'Hello' ? ':1.1' : call.member === 'GetNameOwner' ? ':1.2' : undefined
      if (answer !== undefined) socket.write(encodeStandalone(methodReturn({ serial: call.serial, sender: ':1.1' }, 's', [answer]), ++serial).data)
    }
  })
}

before(async () => {
  dir = mkdtempSync('/tmp/sec-bus-')
  server = createServer(serve)
  await new Promise<void>((resolve) => server.listen(join(dir, 'bus'), resolve))
})

after(() => {
  server.close()
  rmSync(dir, { recursive: true, force: true })
})

const openFds = (): number => readdirSync('/proc/self/fd').length

void describe('OpenMachineShell with a bus that passes no fds', () => {
  void test('fails, and neither end of the pty stays open in the daemon', async () => {
    const terminals = new MachineTerminals({ hostBusAddress: `unix:path=${join(dir, 'bus')}`, log: quiet })
    const spec = { user: 'root', path: '/bin/sh', args: ['sh'], environment: [] }
    // One round first, so that whatever the process keeps for good (the native module, the helper's path) is counted.
    await assert.rejects(terminals.openShell(undefined, spec))
    // The bus socket and the helper's pipes close a moment after the call fails.
    const settled = async (): Promise<number> => { await new Promise((resolve) => setTimeout(resolve, 200)); return openFds() }
    const before = await settled()
    for (let i = 0; i < 5; i++) await assert.rejects(terminals.openShell(undefined, spec), /does not pass file descriptors/)
    assert.equal(await settled(), before)
  })
})

void describe('a session in a guest whose /etc/passwd never answers', () => {
  let leader: ChildProcess | undefined
  after(() => { leader?.kill('SIGKILL') })

  void test('the call fails once the start times out, and the helper is gone', async () => {
    const fifo = join(dir, 'passwd')
    execFileSync('mkfifo', [fifo])
    // The guest: the host's tree in a mount namespace of its own, a FIFO over /etc/passwd, no bus socket.
    leader = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `mount --bind ${fifo} /etc/passwd && mount -t tmpfs tmpfs /run && exec sleep 300`], { stdio: 'ignore' })
    const pid = leader.pid!
    for (let i = 0; i < 100 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sleep'; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    const terminals = new MachineTerminals({ hostBusAddress: 'unix:path=/nonexistent', log: quiet, startTimeoutMs: 500 })
    const spec = { user: 'root', path: '/bin/sh', args: ['sh'], environment: [] }
    await assert.rejects(terminals.openShell({ pid, startTime: 0n }, spec), { message: 'Failed to start session: Connection timed out' })
    // pgrep: status 1 when nothing matches.
    assert.equal(spawnSync('pgrep', ['-f', `machined-enter exec --pid ${pid} `]).status, 1)
  })
})
