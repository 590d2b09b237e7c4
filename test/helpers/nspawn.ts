/**
 * The anchor: real systemd-nspawn booting a tree inside a test sandbox, the
 * way it runs on this kind of host (`-b --register=no --keep-unit`: there
 * is no systemd to ask for a scope). --keep-unit makes nspawn use the
 * cgroup it was started in, so it is started in a cgroup of its own under
 * machine.slice, removed afterwards, never in the host's root cgroup.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { trackingHierarchies } from '../../src/linux/cgroup-layout.ts'
import { killCgroupTree, removeCgroupTree } from '../../src/linux/cgroup-tree.ts'
import { hostTrackingDirs } from './cgroups.ts'
import { eventually, type Sandbox } from './sandbox.ts'

/** Host PIDs below `pid` (children first found first). */
function descendants(pid: number): number[] {
  const out: number[] = []
  const stack = [pid]
  while (stack.length > 0) {
    const p = stack.pop()!
    for (const t of (() => { try { return readdirSync(`/proc/${p}/task`) } catch { return [] } })()) {
      let children = ''
      try { children = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8') } catch { /* gone */ }
      for (const c of children.split(' ').filter((s) => s.trim() !== '').map(Number)) { out.push(c); stack.push(c) }
    }
  }
  return out
}

/** The process that is PID 1 of a child PID namespace, below `pid`. */
export function containerInit(pid: number): number | undefined {
  for (const p of descendants(pid)) {
    let status = ''
    try { status = readFileSync(`/proc/${p}/status`, 'utf8') } catch { continue }
    const ns = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? []
    if (ns.length >= 2 && ns[ns.length - 1] === '1') return p
  }
  return undefined
}

export class NspawnRun {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  /** nspawn's cgroup in each hierarchy that tracks processes in the sandbox, as this process reaches it. */
  readonly #cgroups: readonly string[]
  #out = ''

  private constructor(child: ChildProcess, cgroups: readonly string[]) {
    this.child = child
    this.#cgroups = cgroups
    child.stdout?.on('data', (c: Buffer) => { this.#out += c.toString() })
    child.stderr?.on('data', (c: Buffer) => { this.#out += c.toString() })
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)))
  }

  /**
   * `systemd-nspawn -D TREE -M NAME -b --register=no --keep-unit` (or
   * `-q -- COMMAND…` instead of -b), started in machine.slice/<name>-nspawn.scope.
   */
  static start(sb: Sandbox, tree: string, name: string, options: { command?: readonly string[] } = {}): NspawnRun {
    const cgroup = `machine.slice/${name}-nspawn.scope`
    const layout = sb.cgroupLayout
    const cgroups = hostTrackingDirs(layout, cgroup)
    for (const dir of cgroups) mkdirSync(dir, { recursive: true })
    const moves = trackingHierarchies(layout).map((root) => `echo $$ > ${join(root, cgroup, 'cgroup.procs')}`)
    const what = options.command === undefined ? '-b' : '-q -- "$@"'
    const script = `${moves.join(' && ')} && tree="$0" name="$1" && shift && exec systemd-nspawn -D "$tree" -M "$name" --register=no --keep-unit ${what}`
    const child = spawn(sb.nsenter[0]!, [...sb.nsenter.slice(1), 'sh', '-c', script, tree, name, ...(options.command ?? [])], {
      env: sb.env, stdio: ['ignore', 'pipe', 'pipe'],
    })
    return new NspawnRun(child, cgroups)
  }

  get output(): string {
    return this.#out
  }

  async leader(timeoutMs = 10_000): Promise<number> {
    // Once it runs the tree's init: before the exec, PID 1 is still nspawn's inner child.
    return eventually(() => {
      const pid = containerInit(this.child.pid!)
      if (pid === undefined) return undefined
      try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' ? pid : undefined } catch { return undefined }
    }, timeoutMs, 'nspawn\'s container to start')
  }

  /** SIGTERM to nspawn, which asks its container to halt (SIGRTMIN+3); then the cgroups go. */
  async stop(): Promise<number | null> {
    const nspawn = descendants(this.child.pid!).find((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd-nspawn' } catch { return false } }) ?? this.child.pid!
    try { process.kill(nspawn, 'SIGTERM') } catch { /* gone */ }
    const code = await Promise.race([this.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))])
    if (code === null && this.child.exitCode === null) this.child.kill('SIGKILL')
    await this.removeCgroups()
    return code
  }

  /** Kills whatever is left in nspawn's cgroup (nspawn does not take its container along when it dies), then removes it. */
  async removeCgroups(): Promise<void> {
    for (const dir of this.#cgroups) killCgroupTree(dir, 9)
    await new Promise((r) => setTimeout(r, 200))
    for (const dir of this.#cgroups) { try { removeCgroupTree(dir) } catch { /* busy: leave it */ } }
  }
}
