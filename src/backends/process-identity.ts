/**
 * The pidfd inode number and boot id with which newer systemd names a
 * process robustly ({pid, pidfdId, bootId}, json_variant_new_pidref()).
 * The inode number identifies a process only where pidfds live on pidfs
 * (Linux 6.9+); older kernels give every pidfd the same anonymous inode,
 * and then no number is reported at all, as systemd does.
 * @module
 */

import { fstatSync } from 'node:fs'
import type { ProcessRef } from '../core/ports.ts'
import { readBootId, readProcStat } from '../linux/proc.ts'
import { closeFd, pidfdOpen } from './native.ts'
import { pidfsAvailable } from './pidfd.ts'

export class PidfdProcessIdentity {
  readonly bootId: string
  readonly #procRoot: string
  readonly #pidfs: boolean

  constructor(options: { procRoot?: string } = {}) {
    this.#procRoot = options.procRoot ?? '/proc'
    this.bootId = readBootId(this.#procRoot)
    // Two different processes with one inode number: no pidfs, the numbers mean nothing.
    this.#pidfs = pidfsAvailable()
  }

  #inode(pid: number, check?: (fd: number) => boolean): number | undefined {
    let fd: number
    try {
      fd = pidfdOpen(pid)
    } catch {
      return undefined
    }
    try {
      if (check !== undefined && !check(fd)) return undefined
      return Number(fstatSync(fd, { bigint: true }).ino)
    } finally {
      closeFd(fd)
    }
  }

  pidfdIdOfPid(pid: number): number | undefined {
    return this.#pidfs ? this.#inode(pid) : undefined
  }

  pidfdIdOf(ref: ProcessRef): number | undefined {
    if (!this.#pidfs) return undefined
    // The pidfd is opened first: if the start time still matches after that, the pidfd names the pinned process.
    return this.#inode(ref.pid, () => readProcStat(ref.pid, this.#procRoot)?.startTime === ref.startTime)
  }
}
