// The daemon's helper programs against what a hostile guest or a careless
// parent could hand them, run directly as the daemon runs them (as root):
// machined-enter must not let any fd but the terminal reach a session
// (a host fd in a guest session is a way out of it), and
// machined-enter copy must not turn a user-namespaced guest's files
// into set-ID or device files of the host's root when copying them out.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ENTER_PROGRAM } from '../../src/native/addon.ts'
import { ptyOpen } from '../../src/linux/pty.ts'

const run = promisify(execFile)

let dir: string
let leader: ChildProcess

before(() => {
  dir = mkdtempSync('/tmp/sec-helpers-')
  // A leader in a mount namespace of its own (its root is the host's "/") and with fewer capabilities, as a container's would be.
  leader = spawn('unshare', ['-m', '--propagation', 'private', 'setpriv', '--bounding-set=-all,+chown,+setuid,+setgid', 'sleep', '300'], { stdio: 'ignore' })
})

after(() => {
  leader.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

/** The PID of `sleep` once unshare and setpriv have exec'd it (both exec in place). */
async function leaderPid(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    if (readFileSync(`/proc/${leader.pid}/comm`, 'utf8').trim() === 'sleep') return leader.pid!
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error('the leader did not start')
}

/** Runs `script` with /bin/sh as a session of machined-enter exec on a new pty; resolves to the helper's exit status. */
async function session(args: string[], script: string, stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe']): Promise<number | null> {
  const pty = ptyOpen()
  try {
    const helper = spawn(ENTER_PROGRAM, ['exec', ...args, '--tty', pty.path, '--user', 'root', '--', '/bin/sh', 'sh', '-c', script], { stdio })
    return await new Promise<number | null>((resolve) => helper.on('close', resolve))
  } finally {
    closeSync(pty.master)
    closeSync(pty.slave)
  }
}

void describe('machined-enter exec', () => {
  void test('a session gets the terminal and nothing else of the host\'s, even an fd the helper was started with', async () => {
    const out = join(dir, 'fds')
    const leaked = openSync(dir, 'r')
    try {
      // fd 7 of the helper: as if the daemon had been started with it open, without close-on-exec.
      const script = `if [ -e /proc/self/fd/7 ]; then echo leaked; else echo closed; fi > ${out}; [ -t 0 ] && echo tty >> ${out}`
      assert.equal(await session([], script, ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', 'ignore', 'ignore', leaked]), 0)
      assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), ['closed', 'tty'])
    } finally {
      closeSync(leaked)
    }
  })

  void test('a root session has no capability the machine\'s leader lacks (its bounding set)', async () => {
    const pid = await leaderPid()
    const bounding = (text: string): string => /^CapBnd:\s*(\S+)$/m.exec(text)![1]!
    const out = join(dir, 'caps')
    assert.equal(await session(['--pid', String(pid)], `grep -E '^Cap(Bnd|Eff|Amb):' /proc/self/status > ${out}`), 0)
    const caps = readFileSync(out, 'utf8')
    assert.equal(bounding(caps), bounding(readFileSync(`/proc/${pid}/status`, 'utf8')))
    assert.match(caps, /^CapEff:\s*0+c1$/m, 'chown, setgid, setuid')
    assert.match(caps, /^CapAmb:\s*0+$/m)
  })
})

void describe('machined-enter copy from a user-namespaced guest (UID shift)', () => {
  const copyFrom = async (source: string, destination: string, shift: number): Promise<{ code: number; stdout: string }> => {
    try {
      const { stdout } = await run(ENTER_PROGRAM, ['copy', String(await leaderPid()), 'from', destination, source, String(shift), '0'])
      return { code: 0, stdout }
    } catch (err) {
      const e = err as { code: number; stdout: string }
      return { code: e.code, stdout: e.stdout }
    }
  }

  void test('set-ID bits are not carried over to files that become the host root\'s; without a shift they are kept', async () => {
    const source = join(dir, 'suid-src')
    mkdirSync(source)
    writeFileSync(join(source, 'tool'), '#!/bin/sh\n')
    chmodSync(join(source, 'tool'), 0o6755)
    assert.deepEqual(await copyFrom(source, join(dir, 'suid-shifted'), 65536), { code: 0, stdout: '' })
    const shifted = statSync(join(dir, 'suid-shifted', 'tool'))
    assert.equal(shifted.uid, 0)
    assert.equal(shifted.mode & 0o7777, 0o755)
    assert.deepEqual(await copyFrom(source, join(dir, 'suid-kept'), 0), { code: 0, stdout: '' })
    assert.equal(statSync(join(dir, 'suid-kept', 'tool')).mode & 0o7777, 0o6755)
  })

  void test('a device node is refused (Operation not permitted) and not made on the host', async () => {
    const source = join(dir, 'dev-src')
    mkdirSync(source)
    await run('mknod', ['-m', '0666', join(source, 'disk'), 'b', '7', '0'])
    const { code, stdout } = await copyFrom(source, join(dir, 'dev-dst'), 65536)
    assert.equal(code, 1)
    assert.equal(stdout, '1\tcopy\tOperation not permitted\n')
    assert.equal(existsSync(join(dir, 'dev-dst', 'disk')), false)
  })
})
