// The addon's posix_spawn() (src/native/spawn.ts), as machined-spawn starts
// its helper: real programs, their fds as /proc shows them, their session,
// their signal dispositions, and their reaping through a pidfd.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, writeSync } from 'node:fs'
import { pidfdOpen, pidfdWatch } from '../../src/native/pidfd.ts'
import { pipe, spawnProgram, waitPidfd, type ChildEnd } from '../../src/native/spawn.ts'

/** Waits for the child's exit through its pidfd, reaps it, and closes the pidfd. */
async function reap(pid: number): Promise<ChildEnd> {
  const pidfd = pidfdOpen(pid)
  await new Promise<void>((resolve) => pidfdWatch(pidfd, resolve, true))
  const end = waitPidfd(pidfd)
  closeSync(pidfd)
  assert.ok(end !== undefined)
  // Reaped: no zombie left behind under its PID.
  assert.equal(existsSync(`/proc/${pid}`), false)
  return end
}

/** One line from a blocking pipe, byte by byte (the child writes it whole). */
function readLine(fd: number): string {
  const byte = Buffer.alloc(1)
  let line = ''
  while (readSync(fd, byte, 0, 1, null) === 1 && byte[0] !== 0x0a) line += String.fromCharCode(byte[0]!)
  return line
}

/** A field of /proc/PID/status, e.g. SigIgn. */
function statusField(pid: number, name: string): string {
  return new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!
}

/** The session ID of a process (the sixth field of /proc/PID/stat, after the parenthesised command). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3])
}

describe('native spawn', () => {
  it('gives the child exactly its fds, default signal dispositions and its own session', async () => {
    const [inRead, inWrite] = pipe()
    const [outRead, outWrite] = pipe()
    const [spareRead, spareWrite] = pipe()
    // Our fd 0 at the child's 4 while its 0 is a pipe: the dup2 onto 0 must not overwrite the source of 4.
    const fds = [inRead, outWrite, 2, spareWrite, 0]
    const targets = fds.map((fd) => readlinkSync(`/proc/self/fd/${fd}`))
    const pid = spawnProgram('/bin/sh', { argv: ['sh', '-c', 'echo started; exec cat'], fds, newSession: true })
    closeSync(inRead)
    closeSync(outWrite)
    assert.equal(readLine(outRead), 'started')
    // Exec'd (cat now): everything below is what the program itself started with.
    assert.deepEqual(readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 4])
    assert.deepEqual(fds.map((_, i) => readlinkSync(`/proc/${pid}/fd/${i}`)), targets)
    // Node ignores SIGPIPE; the child must not inherit that, nor any blocked signal.
    assert.notEqual(BigInt(`0x${statusField(process.pid, 'SigIgn')}`), 0n)
    assert.equal(BigInt(`0x${statusField(pid, 'SigIgn')}`), 0n)
    assert.equal(BigInt(`0x${statusField(pid, 'SigBlk')}`), 0n)
    assert.equal(sessionOf(pid), pid)
    // Still running: nothing to reap yet.
    const pidfd = pidfdOpen(pid)
    assert.equal(waitPidfd(pidfd), undefined)
    closeSync(pidfd)
    writeSync(inWrite, 'echo\n')
    assert.equal(readLine(outRead), 'echo')
    closeSync(inWrite)
    assert.deepEqual(await reap(pid), { code: 0 })
    for (const fd of [outRead, spareRead, spareWrite]) closeSync(fd)
  })

  it('stays in our session unless asked, and clears close-on-exec of an fd kept at its own number', async () => {
    // A close-on-exec fd at the same number in the child: only the dup2 onto itself keeps it open over exec.
    const [kept, keptWrite] = pipe()
    const devNull = openSync('/dev/null', 'r+')
    const fds = Array.from({ length: kept + 1 }, (_, i) => (i === kept ? kept : devNull))
    const [outRead, outWrite] = pipe()
    fds[1] = outWrite
    const pid = spawnProgram('/bin/sh', { argv: ['sh', '-c', `echo; read line </proc/$$/fd/${kept}; echo "$line"`], fds })
    closeSync(outWrite)
    assert.equal(readLine(outRead), '')
    assert.equal(sessionOf(pid), sessionOf(process.pid))
    assert.equal(readlinkSync(`/proc/${pid}/fd/${kept}`), readlinkSync(`/proc/self/fd/${kept}`))
    writeSync(keptWrite, 'through the kept fd\n')
    assert.equal(readLine(outRead), 'through the kept fd')
    assert.deepEqual(await reap(pid), { code: 0 })
    for (const fd of [kept, keptWrite, devNull, outRead]) closeSync(fd)
  })

  it('reaps an exit code and a signal', async () => {
    assert.deepEqual(await reap(spawnProgram('/bin/sh', { argv: ['sh', '-c', 'exit 7'], fds: [] })), { code: 7 })
    assert.deepEqual(await reap(spawnProgram('/bin/sh', { argv: ['sh', '-c', 'kill -TERM $$'], fds: [] })), { signal: 15 })
  })

  it('fails like a Node system call', () => {
    assert.throws(() => spawnProgram('/nonexistent/program', { argv: ['x'], fds: [] }), { code: 'ENOENT', syscall: 'posix_spawn' })
    assert.throws(() => spawnProgram('/bin/true', { argv: ['true'], fds: [0x7ffffff0] }), { code: 'EBADF' })
    assert.throws(() => spawnProgram('/bin/true', { argv: ['true'], fds: [-1] }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => spawnProgram('/bin/true', { argv: ['true'], fds: new Array<number>(257).fill(0) }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => spawnProgram('/bin/true', { argv: [1 as unknown as string], fds: [] }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => waitPidfd(0x7ffffff0), { code: 'EBADF', syscall: 'waitid' })
  })
})
