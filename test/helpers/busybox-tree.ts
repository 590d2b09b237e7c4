/**
 * A guest without systemd: a tree holding the static busybox (Debian's
 * busybox-static), a symlink per applet, /etc/passwd and /etc/group with
 * root and one user, and an /sbin/init shell script that idles until
 * SIGTERM. Built fresh for each test in milliseconds, under
 * /var/tmp/machined-ts/, because machined-spawn adds to the tree it runs
 * (mount points): a shared cached copy would see other runs' leftovers.
 */

import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CACHE_DIR } from './debian-tree.ts'

const BUSYBOX = '/bin/busybox'

/** A user the tests log in as (uid 1000, home /home/guest, shell /bin/sh). */
export const BUSYBOX_USER = { name: 'guest', uid: 1000, gid: 1000, home: '/home/guest' } as const

/**
 * PID 1: a shell that waits on a long sleep (so signals reach it at once,
 * and the process list stays still) and exits on the signals
 * a container's init is stopped with: SIGRTMIN+3 (halt: what
 * machined-spawn -b registers as the scope's KillSignal, so `machinectl
 * terminate`), SIGRTMIN+4 (`machinectl poweroff`), SIGTERM and SIGINT.
 * RTMIN is 34 with glibc's threads, so 37 and 38.
 */
const INIT = `#!/bin/sh
trap 'exit 0' TERM INT 37 38
while :; do sleep 1000 & wait $!; done
`

export interface BusyboxTree {
  readonly path: string
  remove(): void
}

export function busyboxTree(): BusyboxTree {
  mkdirSync(CACHE_DIR, { recursive: true })
  const path = mkdtempSync(join(CACHE_DIR, 'busybox-'))
  // mkdtemp makes it 0700: the guest's users must be able to reach their programs.
  chmodSync(path, 0o755)
  for (const dir of ['bin', 'sbin', 'etc', 'dev', 'proc', 'sys', 'tmp', 'run', 'root', 'usr/bin', BUSYBOX_USER.home.slice(1)]) {
    mkdirSync(join(path, dir), { recursive: true })
  }
  copyFileSync(BUSYBOX, join(path, 'bin/busybox'))
  chmodSync(join(path, 'bin/busybox'), 0o755)
  const applets = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a !== '' && a !== 'busybox')
  for (const applet of applets) symlinkSync('busybox', join(path, 'bin', applet))
  const u = BUSYBOX_USER
  writeFileSync(join(path, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\n${u.name}:x:${u.uid}:${u.gid}:Guest:${u.home}:/bin/sh\n`)
  writeFileSync(join(path, 'etc/group'), `root:x:0:\nusers:x:100:${u.name}\n${u.name}:x:${u.gid}:\n`)
  writeFileSync(join(path, 'etc/shadow'), `root:*:19000:0:99999:7:::\n${u.name}:*:19000:0:99999:7:::\n`, { mode: 0o600 })
  writeFileSync(join(path, 'etc/os-release'), 'ID=busybox\nNAME=BusyBox\nPRETTY_NAME="BusyBox test guest"\n')
  writeFileSync(join(path, 'etc/hostname'), 'busybox\n')
  spawnSync('chown', [`${u.uid}:${u.gid}`, join(path, u.home)])
  writeFileSync(join(path, 'sbin/init'), INIT, { mode: 0o755 })
  chmodSync(join(path, 'tmp'), 0o1777)
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/** A fresh busybox tree copied to `destination` (e.g. into a guest's machine pool through its hostPath()), the temporary one removed. */
export function installBusyboxTree(destination: string): void {
  const tree = busyboxTree()
  try {
    const copy = spawnSync('cp', ['-a', tree.path, destination], { encoding: 'utf8' })
    if (copy.status !== 0) throw new Error(`copying the busybox tree to ${destination} failed: ${copy.stderr}`)
  } finally {
    tree.remove()
  }
}
