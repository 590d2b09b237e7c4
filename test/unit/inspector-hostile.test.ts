// GetMachineOSRelease against a hostile guest, which owns every file the
// daemon reads through /proc/LEADER/root: a FIFO must not block the daemon
// (a blocked open holds a libuv thread; a few of them stop every file
// access of the daemon), a device (/dev/zero) must not be read without end,
// an oversized file is no os-release; the next candidate is tried.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ProcfsInspector } from '../../src/backends/inspector.ts'
import { FakeProcesses } from '../fakes/processes.ts'
import { needsRoot } from '../helpers/privilege.ts'

const PID = 4242

let proc: string
let root: string
let inspector: ProcfsInspector
const leader = { pid: PID, startTime: 1n }

before(() => {
  proc = mkdtempSync('/tmp/sec-inspector-')
  root = join(proc, String(PID), 'root')
  mkdirSync(join(root, 'etc'), { recursive: true })
  mkdirSync(join(root, 'usr/lib'), { recursive: true })
  mkdirSync(join(root, 'dev'))
  writeFileSync(join(root, 'usr/lib/os-release'), 'ID=fallback\n')
  const processes = new FakeProcesses()
  Object.assign(leader, processes.spawn(PID))
  inspector = new ProcfsInspector({ processes, procRoot: proc })
})

after(() => {
  rmSync(proc, { recursive: true, force: true })
})

function guestOsRelease(): string {
  return join(root, 'etc/os-release')
}

void describe('os-release of a hostile guest', () => {
  void test('a FIFO is skipped at once, not waited on', { timeout: 5000 }, async () => {
    execFileSync('mkfifo', [guestOsRelease()])
    try {
      const found = await inspector.osRelease(leader)
      assert.equal(found?.get('ID'), 'fallback')
    } finally {
      // Lets a blocked open (the bug) go, so the runner can end.
      const fd = openSync(guestOsRelease(), constants.O_RDWR | constants.O_NONBLOCK)
      closeSync(fd)
      rmSync(guestOsRelease())
    }
  })

  void test('a device (a symlink to the guest\'s /dev/zero) is skipped, not read without end', { timeout: 5000, ...needsRoot }, async () => {
    execFileSync('mknod', [join(root, 'dev/zero'), 'c', '1', '5'])
    symlinkSync('/dev/zero', guestOsRelease())
    try {
      assert.equal((await inspector.osRelease(leader))?.get('ID'), 'fallback')
    } finally {
      rmSync(guestOsRelease())
    }
  })

  void test('a file over 4 MiB is skipped; a small one is read', async () => {
    writeFileSync(guestOsRelease(), 'ID=huge\n')
    truncateSync(guestOsRelease(), 5 * 1024 * 1024)
    assert.equal((await inspector.osRelease(leader))?.get('ID'), 'fallback')
    writeFileSync(guestOsRelease(), 'ID=guest\nNAME="Guest OS"\n')
    assert.equal((await inspector.osRelease(leader))?.get('NAME'), 'Guest OS')
  })
})
