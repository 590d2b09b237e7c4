/**
 * The matrix's worlds that are test sandboxes (helpers/sandbox.ts): this
 * host's own layout as the machine has it, or a pure cgroup2 view of it
 * (cgroup2 mounted over /sys/fs/cgroup in the sandbox's mount namespace,
 * the v1 hierarchies unmounted). Processes are the host's: a leader's PID
 * is the same inside and out.
 * @module
 */

import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { hostTrackingDirs, killAndRemove } from '../helpers/cgroups.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { Sandbox, sleep, type ExecResult } from '../helpers/sandbox.ts'
import { machineLeader, SpawnRun, waitBooted } from '../helpers/spawn.ts'
import type { LayoutName, World, WorldContainer, WorldProcess } from './world.ts'

function describeLayout(l: CgroupLayout): string {
  const v1 = [l.systemdV1 === undefined ? '' : `name=systemd at ${l.systemdV1}`, ...(['pidsV1', 'memoryV1', 'devicesV1'] as const).map((k) => (l[k] === undefined ? '' : `v1 ${k.slice(0, -2)}`))]
    .filter((s) => s !== '')
  return `${l.kind}: cgroup2 at ${l.unified ?? '(none)'}${v1.length > 0 ? `, ${v1.join(', ')}` : ''}`
}

export class SandboxWorld implements World {
  readonly layout: LayoutName
  readonly title: string
  readonly cgroups: CgroupLayout
  readonly #sb: Sandbox
  /** Cgroups made for leaders that a "service manager" put in a unit (host paths). */
  readonly #unitDirs: string[] = []
  readonly #scratch: string[] = []
  readonly #containers: SpawnRun[] = []
  #tree: OverlayTree | undefined

  private constructor(layout: LayoutName, sb: Sandbox) {
    this.layout = layout
    this.#sb = sb
    this.cgroups = sb.cgroupLayout
    this.title = layout === 'host' ? `this host's own layout, ${describeLayout(this.cgroups)}` : `a pure cgroup2 view of this host, ${describeLayout(this.cgroups)}`
  }

  static async start(layout: 'host' | 'unified'): Promise<SandboxWorld> {
    const sb = await Sandbox.start({ cgroup: layout === 'unified' ? 'unified' : 'host' })
    const w = new SandboxWorld(layout, sb)
    if (layout === 'unified' && w.cgroups.kind !== 'unified') {
      await sb.stop()
      throw new Error(`the sandbox sees a ${w.cgroups.kind} layout, not a pure cgroup2 one`)
    }
    return w
  }

  get sandbox(): Sandbox {
    return this.#sb
  }

  exec(argv: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return this.#sb.exec(argv, options)
  }

  name(base: string): string {
    return this.#sb.name(base)
  }

  async spawnLeader(script = 'exec sleep 1000', options: { unit?: string } = {}): Promise<WorldProcess> {
    const { leader, release } = await this.#sb.spawnGatedLeader(script)
    const pid = leader.pid!
    if (options.unit !== undefined) {
      const cgroup = `/machine.slice/${options.unit}`
      for (const dir of hostTrackingDirs(this.cgroups, cgroup)) {
        mkdirSync(dir, { recursive: true })
        this.#unitDirs.push(dir)
        writeFileSync(join(dir, 'cgroup.procs'), `${pid}\n`)
      }
    }
    return { pid, release: async () => { release() } }
  }

  isRunning(pid: number): boolean {
    try {
      return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'latin1'))
    } catch {
      return false
    }
  }

  async procCgroup(pid: number): Promise<string> {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8')
  }

  path(worldPath: string): string {
    return this.#sb.hostPath(worldPath)
  }

  scratchDir(prefix: string): { world: string; host: string } {
    // The sandbox shares the host's /tmp (only /run is its own).
    const dir = mkdtempSync(join(tmpdir(), `machined-ts-${prefix}-`))
    this.#scratch.push(dir)
    return { world: dir, host: dir }
  }

  watch(argv: string[]): { output(): string; stop(): void } {
    const child = spawn(this.#sb.nsenter[0]!, [...this.#sb.nsenter.slice(1), ...argv], { env: this.#sb.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    return { output: () => out, stop: () => { child.kill() } }
  }

  async stopDaemon(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const code = await this.#sb.stopDaemon(signal)
    if (signal === 'SIGTERM' && code !== 0) throw new Error(`the daemon exited with ${code} on SIGTERM`)
  }

  async startDaemon(): Promise<void> {
    await this.#sb.startDaemon()
  }

  async daemonLog(): Promise<string> {
    return this.#sb.daemonLog
  }

  async bootContainer(name: string): Promise<WorldContainer> {
    this.#tree ??= await OverlayTree.create(this.#sb, await debianTree())
    const run = SpawnRun.start(this.#sb, ['-D', this.#tree.path, '-M', name, '-b', '-q'])
    this.#containers.push(run)
    const leader = await machineLeader(this.#sb, name)
    const state = await waitBooted(this.#sb, leader)
    if (state !== 'running') throw new Error(`the container did not boot (${state}):\n${run.stdout}\n${run.stderr}`)
    return {
      name, leader,
      exited: run.exited.then((e) => e.code),
      kill: async () => { try { process.kill(run.managerPid(), 'SIGKILL') } catch { /* gone */ } },
    }
  }

  async dispose(): Promise<void> {
    for (const run of this.#containers) {
      if (run.child.exitCode === null) { try { process.kill(run.managerPid(), 'SIGKILL') } catch { /* gone */ } }
    }
    if (this.#containers.length > 0) await sleep(300)
    this.#tree?.remove()
    for (const dir of this.#unitDirs.reverse()) killAndRemove(dir)
    for (const dir of this.#scratch) rmSync(dir, { recursive: true, force: true })
    await this.#sb.stop()
    // A leader killed just now may still hold its unit's cgroup: once more.
    for (const dir of this.#unitDirs) killAndRemove(dir)
  }
}
