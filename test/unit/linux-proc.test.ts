// The /proc readers every layer shares (src/linux/proc.ts): parsed from
// fixture text and a /proc-shaped directory, and read from this very
// process, whose answers Node knows independently.
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  hasExited, parseProcStat, parseStatusUid, pidIsValid, processCmdline, processComm, readBootId, readProcCgroup, readProcStat, readStatusUid, signalQuietly,
} from '../../src/linux/proc.ts'
import { parseProcCgroup } from '../../src/linux/cgroup-paths.ts'

const procRoot = mkdtempSync(join(tmpdir(), 'linux-proc-'))
after(() => rmSync(procRoot, { recursive: true, force: true }))

/** /proc/PID/stat with the given name, state, parent and start time (fields 1–22). */
function stat(pid: number, comm: string, state: string, ppid: number, start: number): string {
  const middle = Array.from({ length: 17 }, () => '0').join(' ')
  return `${pid} (${comm}) ${state} ${ppid} ${middle} ${start} 0 0\n`
}

function fakeProcess(pid: number, files: Record<string, string | Buffer>): void {
  mkdirSync(join(procRoot, String(pid)), { recursive: true })
  for (const [name, contents] of Object.entries(files)) writeFileSync(join(procRoot, String(pid), name), contents)
}

void describe('/proc/PID/stat', () => {
  void test('state, parent, start time and name, read once; a name may hold spaces and parentheses', () => {
    assert.deepEqual(parseProcStat(stat(7, 'a) b (c', 'S', 1, 4242)), { state: 'S', ppid: 1, startTime: 4242n, comm: 'a) b (c' })
    assert.equal(parseProcStat('7 (x) S'), undefined, 'cut short')
    assert.equal(parseProcStat('no parentheses'), undefined)
  })

  void test('from a /proc of our own; zombies and dead tasks have exited', () => {
    fakeProcess(300, { stat: stat(300, 'zombie', 'Z', 1, 5) })
    fakeProcess(301, { stat: stat(301, 'sleep', 'S', 300, 6) })
    assert.equal(hasExited(readProcStat(300, procRoot)!), true)
    assert.equal(hasExited(readProcStat(301, procRoot)!), false)
    assert.equal(readProcStat(302, procRoot), undefined, 'gone')
    assert.equal(readProcStat(-1, procRoot), undefined, 'never a PID')
  })

  void test('this process, as Node sees it', () => {
    const self = readProcStat(process.pid)
    assert.equal(self?.ppid, process.ppid)
    assert.equal(self?.state, 'R')
    assert.ok(self !== undefined && self.startTime > 0n)
  })

  void test('what a PID can be', () => {
    assert.equal(pidIsValid(1), true)
    assert.equal(pidIsValid(0x3fffffff), true)
    for (const bad of [0, -1, 1.5, 0x40000000, Number.NaN]) assert.equal(pidIsValid(bad), false, String(bad))
  })
})

void describe('/proc/PID/status', () => {
  void test('a UID only when real, effective, saved and file system UIDs agree', () => {
    assert.equal(parseStatusUid('Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n'), 1000)
    assert.equal(parseStatusUid('Uid:\t1000\t0\t0\t0\n'), undefined)
    assert.equal(parseStatusUid('Uid:\t1000\n'), undefined)
  })

  void test('this process\'s UID', () => {
    assert.equal(readStatusUid(process.pid), process.getuid?.())
    assert.equal(readStatusUid(999_999_999, procRoot), undefined)
  })
})

void describe('names for display', () => {
  void test('the command line, joined by spaces, control bytes escaped; "[comm]" when there is none', () => {
    fakeProcess(400, { stat: stat(400, 'sh', 'S', 1, 1), cmdline: Buffer.from('/bin/sh\0-c\0echo\ta\0') })
    fakeProcess(401, { stat: stat(401, 'kworker/0:1', 'I', 2, 1), cmdline: '' })
    fakeProcess(402, { stat: stat(402, 'evil\nname', 'S', 1, 1), cmdline: '' })
    assert.equal(processCmdline(400, procRoot), '/bin/sh -c echo\\x09a')
    assert.equal(processCmdline(401, procRoot), '[kworker/0:1]')
    assert.equal(processComm(402, procRoot), 'evil\\nname')
    assert.equal(processCmdline(402, procRoot), '[evil\\nname]')
    fakeProcess(404, { stat: stat(404, 'näme', 'S', 1, 1), cmdline: '' })
    assert.equal(processComm(404, procRoot), 'näme', 'UTF-8, as /proc/PID/comm shows it')
    assert.equal(processCmdline(403, procRoot), undefined)
    assert.equal(processComm(403, procRoot), undefined)
  })

  void test('a real process', async () => {
    const child = spawn('sleep', ['30', '31'], { stdio: 'ignore' })
    try {
      await once(child, 'spawn') // after the exec
      assert.equal(processCmdline(child.pid!), 'sleep 30 31')
      assert.equal(processComm(child.pid!), 'sleep')
    } finally {
      child.kill('SIGKILL')
    }
  })
})

void describe('cgroup, boot ID, signals', () => {
  void test('our own /proc/PID/cgroup has a line per hierarchy', () => {
    const text = readProcCgroup('self')
    assert.ok(text !== undefined)
    assert.ok(parseProcCgroup(text).length > 0)
    assert.equal(readProcCgroup(process.pid), text)
    assert.equal(readProcCgroup(0), undefined)
  })

  void test('the boot ID is 32 hex digits', () => {
    assert.match(readBootId(), /^[0-9a-f]{32}$/)
    mkdirSync(join(procRoot, 'sys/kernel/random'), { recursive: true })
    writeFileSync(join(procRoot, 'sys/kernel/random/boot_id'), '0123ABCD-0123-4567-89ab-0123456789ab\n')
    assert.equal(readBootId(procRoot), '0123abcd0123456789ab0123456789ab')
  })

  void test('signalling a process that is gone is no error', () => {
    assert.equal(signalQuietly(process.pid, 0), true)
    assert.equal(signalQuietly(0x3fffffff, 0), false)
  })
})
