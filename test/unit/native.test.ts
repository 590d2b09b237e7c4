// The native module as the daemon uses it: SO_PEERCRED on an accepted
// Unix socket (reached through socket._handle.fd), fds passed with
// SCM_RIGHTS (up to the kernel's 253 a message), and pidfds that open,
// signal and report the exit of exactly one process. Errors carry Node's
// usual code/errno/syscall.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fstatSync, mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closeFd, getPeerCred, peerCredentialsOf, pidfdOpen, pidfdSendSignal, receiveFds, socketFd, socketPair } from '../../src/backends/native.ts'
import { loadAddon } from '../../src/native/addon.ts'
import { pidfdWatch } from '../../src/native/pidfd.ts'
import { pidfsAvailable } from '../../src/backends/pidfd.ts'
import { PidfdProcessIdentity } from '../../src/backends/process-identity.ts'
import { ProcfsProcesses } from '../../src/backends/procfs.ts'

describe('native module', () => {
  it('reads SO_PEERCRED of an accepted socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'native-test-'))
    const path = join(dir, 'sock')
    let accepted: Socket | undefined
    const server = createServer((s) => { accepted = s })
    await new Promise<void>((r) => server.listen(path, r))
    const client = connect(path)
    await new Promise((r) => client.once('connect', r))
    while (accepted === undefined) await new Promise((r) => setTimeout(r, 5))
    assert.deepEqual(peerCredentialsOf(accepted), { uid: process.getuid!(), gid: process.getgid!(), pid: process.pid })
    assert.deepEqual(getPeerCred(socketFd(accepted)), peerCredentialsOf(accepted))
    client.destroy()
    accepted.destroy()
    assert.throws(() => socketFd(accepted!), /no file descriptor/)
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('fails like a Node system call on a bad fd', () => {
    assert.throws(() => getPeerCred(0x7ffffff0), { code: 'EBADF', errno: -9, syscall: 'getsockopt' })
    assert.throws(() => getPeerCred(-1), { code: 'ERR_INVALID_ARG_TYPE' })
  })

  it('opens a pidfd, signals through it, and tells when the process has exited', async () => {
    const child = spawn('sleep', ['100'], { stdio: 'ignore' })
    await new Promise((r) => child.once('spawn', r))
    const fd = pidfdOpen(child.pid!)
    let fired = 0
    const exited = new Promise<void>((resolve) => {
      const watch = pidfdWatch(fd, () => { fired++; watch.close(); watch.close(); resolve() })
    })
    pidfdSendSignal(fd, 15)
    await exited
    assert.equal(fired, 1)
    assert.equal(child.signalCode ?? (await new Promise((r) => child.once('exit', (_c, sig) => r(sig)))), 'SIGTERM')
    // The process is gone: its pidfd can no longer signal anybody, whoever gets the PID next.
    assert.throws(() => pidfdSendSignal(fd, 15), { code: 'ESRCH', syscall: 'pidfd_send_signal' })
    closeFd(fd)
  })

  it('passes fds only as asked: bad arguments are refused, a gone peer is EPIPE (no SIGPIPE), its end an empty read', () => {
    const { sendFds } = loadAddon<{ sendFds: (fd: number, data: Buffer, fds: number[]) => number }>()
    const [a, b] = socketPair()
    assert.throws(() => sendFds(a, Buffer.alloc(0), []), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => sendFds(a, Buffer.from('x'), new Array<number>(254).fill(a)), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => sendFds(a, Buffer.from('x'), [-1]), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => receiveFds(a), { code: 'EAGAIN', syscall: 'recvmsg' })
    assert.equal(sendFds(a, Buffer.from('x'), new Array<number>(253).fill(a)), 1)
    const r = receiveFds(b)
    assert.equal(r.data.toString(), 'x')
    assert.equal(r.fds.length, 253)
    for (const fd of r.fds) closeFd(fd)
    closeFd(b)
    assert.throws(() => sendFds(a, Buffer.from('x'), []), { code: 'EPIPE', syscall: 'sendmsg' })
    assert.equal(receiveFds(a).data.length, 0)
    closeFd(a)
  })

  it('receives into a given Buffer: as many bytes as it holds, the fds counted in front of them; bad arguments refused', () => {
    type Into = (fd: number, into: Buffer, fds: Int32Array) => number
    const { sendFds, receiveFdsInto } = loadAddon<{ sendFds: (fd: number, data: Buffer, fds: number[]) => number; receiveFdsInto: Into }>()
    const [a, b] = socketPair()
    const into = Buffer.alloc(4)
    const fds = new Int32Array(254)
    assert.throws(() => receiveFdsInto(b, into, fds), { code: 'EAGAIN', syscall: 'recvmsg' })
    assert.throws(() => receiveFdsInto(b, Buffer.alloc(0), fds), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => receiveFdsInto(b, into, new Int32Array(253)), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => receiveFdsInto(b, into, new Uint32Array(254) as unknown as Int32Array), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.equal(sendFds(a, Buffer.from('hello'), [a, a]), 5)
    assert.equal(receiveFdsInto(b, into, fds), 4)
    assert.equal(into.toString(), 'hell')
    assert.equal(fds[0], 2)
    for (const fd of fds.subarray(1, 3)) {
      assert.ok(fd > 2 && fd !== a && fd !== b)
      closeFd(fd)
    }
    assert.equal(receiveFdsInto(b, into, fds), 1)
    assert.equal(into.subarray(0, 1).toString(), 'o')
    assert.equal(fds[0], 0)
    closeFd(a)
    assert.equal(receiveFdsInto(b, into, fds), 0)
    closeFd(b)
  })

  it('refuses a PID that does not exist', () => {
    assert.throws(() => pidfdOpen(0x3ffffff0), { code: 'ESRCH', syscall: 'pidfd_open' })
  })

  it('a watch that is closed before the exit never calls back', async () => {
    const child = spawn('sleep', ['100'], { stdio: 'ignore' })
    await new Promise((r) => child.once('spawn', r))
    const fd = pidfdOpen(child.pid!)
    let fired = false
    pidfdWatch(fd, () => { fired = true }).close()
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(fired, false)
    closeFd(fd)
  })
})

describe('PidfdProcessIdentity', () => {
  // Before Linux 6.9 (no pidfs) every pidfd shares one anonymous inode: no number is reported, as systemd reports none.
  it(pidfsAvailable()
    ? 'with pidfs: knows the boot id and a pidfd inode number per process, only while the pinned process runs'
    : 'without pidfs (before Linux 6.9): knows the boot id, and reports no pidfd inode number', async () => {
    const identity = new PidfdProcessIdentity()
    assert.match(identity.bootId, /^[0-9a-f]{32}$/)
    const child = spawn('sleep', ['100'], { stdio: 'ignore' })
    await new Promise((r) => child.once('spawn', r))
    const ref = (await new ProcfsProcesses().pin(child.pid!))!
    if (!pidfsAvailable()) {
      assert.equal(identity.pidfdIdOf(ref), undefined)
      assert.equal(identity.pidfdIdOfPid(child.pid!), undefined)
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      return
    }
    const id = identity.pidfdIdOf(ref)
    const fd = pidfdOpen(child.pid!)
    assert.equal(id, Number(fstatSync(fd, { bigint: true }).ino))
    closeFd(fd)
    assert.equal(identity.pidfdIdOfPid(child.pid!), id)
    assert.notEqual(identity.pidfdIdOfPid(process.pid), id)
    assert.equal(identity.pidfdIdOf({ pid: ref.pid, startTime: ref.startTime + 1n }), undefined)
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    assert.equal(identity.pidfdIdOf(ref), undefined)
  })
})
