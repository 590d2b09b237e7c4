/**
 * Walking a cgroup and everything below it: its processes, whether any is
 * left, signalling them all, removing the cgroups. cgroupfs is in-kernel
 * like procfs, so everything here is synchronous on purpose: no other call
 * interleaves with a half-done walk.
 * @module
 */

import { readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { signalQuietly } from './proc.ts'

const SIGKILL = 9

/**
 * How many times killCgroupTree() walks the tree looking for processes it
 * has not signalled yet. A forking process adds children between one read
 * of cgroup.procs and the signal; a process that ignores the signal and
 * keeps forking would keep a loop like systemd's going for ever, so ours
 * stops here (the SIGKILL that follows a stop timeout ends it).
 */
const KILL_ROUNDS_MAX = 16

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/** The processes in one cgroup (cgroup.procs), not below it; none when the cgroup is gone. */
export function cgroupPids(dir: string): number[] {
  let text: string
  try {
    text = readFileSync(join(dir, 'cgroup.procs'), 'latin1')
  } catch {
    return []
  }
  return text.split('\n').filter((l) => /^\d+$/.test(l)).map(Number).filter((pid) => pid > 0)
}

/** The directories of a cgroup's direct children; none when it is gone. */
export function cgroupChildren(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name))
  } catch {
    return []
  }
}

/** `dir` and every cgroup below it, each before its children. */
export function* cgroupTree(dir: string): Generator<string> {
  const stack = [dir]
  for (let d = stack.pop(); d !== undefined; d = stack.pop()) {
    yield d
    stack.push(...cgroupChildren(d).reverse())
  }
}

/** Whether a cgroup, or any cgroup below it, holds a process. */
export function cgroupPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'latin1'))
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') return false
  }
  // cgroup v1 has no cgroup.events (and a cgroup that is gone has none either): look below.
  for (const d of cgroupTree(dir)) if (cgroupPids(d).length > 0) return true
  return false
}

export interface KillOptions {
  /** Sends the signal; process.kill() ignoring ESRCH by default. */
  readonly send?: (pid: number, signal: number) => void
}

/**
 * cgroup2's cgroup.kill (Linux 5.14+): the kernel SIGKILLs the whole
 * subtree, and a child whose fork raced the kill too (it checks the
 * cgroup's kill flag as the child joins it), which no walk from user space
 * can promise. systemd uses it the same way (cg_kill_kernel_sigkill()).
 * False where there is none (cgroup v1, older kernels, the root cgroup).
 */
function killInKernel(dir: string): boolean {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1', { flag: 'r+' })
    return true
  } catch {
    return false
  }
}

/**
 * Signals every process in a cgroup and below. SIGKILL goes through
 * cgroup.kill where the kernel has it. Otherwise each process is signalled
 * once and the tree walked again while new processes keep showing up (a
 * fork racing the kill), as systemd's cg_kill_recursive() repeats until no
 * new PID appears; a child still joining its cgroup as the last walk
 * passes can escape that, which the stop timeout's SIGKILL then catches.
 */
export function killCgroupTree(dir: string, signal: number, options: KillOptions = {}): void {
  if (signal === SIGKILL && killInKernel(dir)) return
  const send = options.send ?? ((pid: number, sig: number) => { signalQuietly(pid, sig) })
  const done = new Set<number>()
  for (let round = 0; round < KILL_ROUNDS_MAX; round++) {
    let fresh = false
    for (const d of cgroupTree(dir)) {
      for (const pid of cgroupPids(d)) {
        if (done.has(pid)) continue
        done.add(pid)
        fresh = true
        send(pid, signal)
      }
    }
    if (!fresh) return
  }
}

/**
 * Removes a cgroup, its children first (rmdir refuses a cgroup with
 * children; a guest's systemd makes cgroups below its scope). A cgroup
 * that still holds processes or is gone already is left as it is; with
 * `recurse: false` only `dir` itself is tried (an emptied machine.slice,
 * never the scopes of other machines in it). Other errors are thrown.
 */
export function removeCgroupTree(dir: string, options: { recurse?: boolean } = {}): void {
  if (options.recurse ?? true) for (const child of cgroupChildren(dir)) removeCgroupTree(child)
  try {
    rmdirSync(dir)
  } catch (err) {
    const code = errnoOf(err)
    if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err
  }
}
