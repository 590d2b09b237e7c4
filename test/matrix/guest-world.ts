/**
 * The matrix's world whose PID 1 is systemd: the systemd guest
 * (helpers/systemd-guest.ts: Debian booted by systemd-nspawn, pure
 * cgroup2, systemd-machined masked), with machined-ts installed and
 * started from its shipped unit (`machined install-service`), so scopes
 * are real systemd units in machine.slice. Clients run in the guest's
 * namespaces; leaders are the guest's own services (a process must start
 * inside the guest's cgroup tree for systemd to move it into a scope);
 * PIDs are the guest's.
 * @module
 */

import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { cgroupLayoutOf } from '../helpers/cgroups.ts'
import { debianTree } from '../helpers/debian-tree.ts'
import { eventually, sleep, type ExecResult } from '../helpers/sandbox.ts'
import { SystemdGuest } from '../helpers/systemd-guest.ts'
import type { LayoutName, World, WorldContainer, WorldProcess } from './world.ts'

const UNIT = 'machined-ts.service'

export class GuestWorld implements World {
  readonly layout: LayoutName = 'systemd'
  readonly title: string
  readonly cgroups: CgroupLayout
  readonly #guest: SystemdGuest
  readonly #tree: string
  #serial = 0
  #disposed = false

  private constructor(guest: SystemdGuest, tree: string) {
    this.#guest = guest
    this.#tree = tree
    this.cgroups = cgroupLayoutOf(`/proc/${guest.leader}/mountinfo`)
    this.title = `a Debian guest whose PID 1 is systemd, ${this.cgroups.kind}: cgroup2 at ${this.cgroups.unified ?? '(none)'}, machined-ts from its shipped unit`
  }

  /** Boots the guest with the machined-spawn tests' Debian tree bound read-only (for bootContainer()), then installs and starts machined-ts. */
  static async start(): Promise<GuestWorld> {
    const tree = await debianTree()
    const guest = await SystemdGuest.start({ nspawnArgs: [`--bind-ro=${tree}`] })
    try {
      await guest.installMachined()
      const w = new GuestWorld(guest, tree)
      if (w.cgroups.kind !== 'unified') throw new Error(`the guest sees a ${w.cgroups.kind} layout`)
      return w
    } catch (err) {
      await guest.stop()
      throw err
    }
  }

  exec(argv: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return this.#guest.enter(argv, options)
  }

  name(base: string): string {
    return this.#guest.sandbox.name(base)
  }

  /** A transient service of the guest running `argv` (no --collect: its end stays readable). */
  async #service(unit: string, argv: string[]): Promise<void> {
    const r = await this.exec(['systemd-run', `--unit=${unit}`, '--service-type=exec', '--quiet', ...argv])
    if (r.code !== 0) throw new Error(`systemd-run ${unit} failed: ${r.stderr}`)
  }

  async spawnLeader(script = 'exec sleep 1000', options: { unit?: string } = {}): Promise<WorldProcess> {
    const tag = `matrix-leader-${++this.#serial}`
    const dir = `/run/${tag}`
    // systemd expands $ in a unit's command line: the script goes in a file.
    this.#guest.writeFile(`${dir}/leader.sh`, `echo $$ > ${dir}/pid\nwhile [ ! -e ${dir}/go ]; do sleep 0.02; done\n${script}\n`)
    const scope = options.unit === undefined ? [] : ['systemd-run', '--scope', `--unit=${options.unit}`, '--slice=machine', '--quiet']
    await this.#service(tag, [...scope, 'sh', `${dir}/leader.sh`])
    const pid = await eventually(() => {
      try { return Number(readFileSync(this.path(`${dir}/pid`), 'utf8')) || undefined } catch { return undefined }
    }, 10_000, `${tag} to start`)
    return { pid, release: async () => { writeFileSync(this.path(`${dir}/go`), '') } }
  }

  isRunning(pid: number): boolean {
    try {
      return !/^\d+ \(.*\) [ZX]/.test(readFileSync(this.path(`/proc/${pid}/stat`), 'latin1'))
    } catch {
      return false
    }
  }

  async procCgroup(pid: number): Promise<string> {
    const r = await this.exec(['cat', `/proc/${pid}/cgroup`])
    if (r.code !== 0) throw new Error(`no process ${pid} in the guest: ${r.stderr}`)
    return r.stdout
  }

  path(worldPath: string): string {
    return this.#guest.hostPath(worldPath)
  }

  scratchDir(prefix: string): { world: string; host: string } {
    const host = mkdtempSync(this.path(`/var/tmp/machined-ts-${prefix}-`))
    return { world: host.slice(this.path('').length), host }
  }

  watch(argv: string[]): { output(): string; stop(): void } {
    const sb = this.#guest.sandbox
    const child = spawn(sb.nsenter[0]!, [...sb.nsenter.slice(1), 'nsenter', '-t', String(this.#guest.leader), '-a', '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    return { output: () => out, stop: () => { child.kill() } }
  }

  /** systemctl stop (SIGTERM through its unit), or systemctl kill -s KILL (a crash: no Restart= in the unit). */
  async stopDaemon(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const r = await this.exec(signal === 'SIGTERM' ? ['systemctl', 'stop', UNIT] : ['systemctl', 'kill', '-s', 'KILL', UNIT])
    if (r.code !== 0) throw new Error(`stopping ${UNIT} failed: ${r.stderr}`)
    await eventually(async () => /^(inactive|failed)$/m.test((await this.exec(['systemctl', 'is-active', UNIT])).stdout), 10_000, `${UNIT} to stop`)
    if (signal === 'SIGTERM') {
      const result = (await this.exec(['systemctl', 'show', '-p', 'Result', '--value', UNIT])).stdout.trim()
      if (result !== 'success') throw new Error(`${UNIT} stopped with ${result}`)
    }
  }

  async startDaemon(): Promise<void> {
    const r = await this.exec(['systemctl', 'start', UNIT])
    if (r.code !== 0) throw new Error(`systemctl start ${UNIT} failed: ${r.stderr}`)
  }

  async daemonLog(): Promise<string> {
    return (await this.exec(['journalctl', '--no-pager', '-o', 'cat', '-u', UNIT])).stdout
  }

  /** machined-spawn as a service of the guest, on an overlay of the bound tree (its upper layer on a tmpfs: overlayfs cannot be an upper layer). */
  async bootContainer(name: string): Promise<WorldContainer> {
    const base = `/var/tmp/matrix-${name}`
    const mount = await this.exec(['sh', '-c', `mkdir -p ${base} && mount -t tmpfs tmpfs ${base} && mkdir ${base}/upper ${base}/work ${base}/merged && ` +
      `mount -t overlay overlay -o lowerdir=${this.#tree},upperdir=${base}/upper,workdir=${base}/work ${base}/merged`])
    if (mount.code !== 0) throw new Error(`the container's overlay: ${mount.stderr}`)
    const unit = `matrix-spawn-${name}`
    const [node, machined] = this.#guest.machinedCommand
    await this.#service(unit, [node!, join(machined!, '..', 'machined-spawn.js'), '-D', `${base}/merged`, '-M', name, '-b', '-q'])
    const leader = await eventually(() => {
      const file = this.path(`/run/systemd/machines/${name}`)
      if (!existsSync(file)) return undefined
      return Number(/^LEADER=(\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0) || undefined
    }, 15_000, `${name} to be registered`)
    // Right after the exec the container's systemd has not opened its private socket yet (as helpers/spawn.ts's waitBooted() knows).
    const booted = await eventually(async () => {
      const r = await this.exec(['nsenter', '-t', String(leader), '-a', 'systemctl', 'is-system-running', '--wait'], { timeoutMs: 60_000 })
      const early = r.stderr.includes('Failed to connect to bus') || ['', 'offline'].includes(r.stdout.trim())
      return early ? undefined : r
    }, 30_000, `${name}'s systemd to answer`)
    if (booted.stdout.trim() !== 'running') throw new Error(`the container did not boot (${booted.stdout.trim()}): ${booted.stderr}`)
    const exited = (async (): Promise<number | null> => {
      while (!this.#disposed) {
        const r = await this.exec(['systemctl', 'show', '-p', 'ActiveState', '-p', 'ExecMainStatus', `${unit}.service`])
        const state = /^ActiveState=(.*)$/m.exec(r.stdout)?.[1]
        if (state === 'inactive' || state === 'failed') return Number(/^ExecMainStatus=(\d+)$/m.exec(r.stdout)?.[1] ?? -1)
        await sleep(100)
      }
      return null
    })()
    return {
      name, leader, exited,
      kill: async () => {
        await this.exec(['systemctl', 'kill', '-s', 'KILL', `${unit}.service`])
        await this.exec(['sh', '-c', `systemctl reset-failed ${unit}.service; umount -l ${base}/merged; umount -l ${base}`])
      },
    }
  }

  async unitProperties(unit: string, names: readonly string[]): Promise<Record<string, string>> {
    const r = await this.exec(['systemctl', 'show', unit, ...names.flatMap((n) => ['-p', n])])
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  }

  async dispose(): Promise<void> {
    this.#disposed = true
    await this.#guest.stop()
  }
}
