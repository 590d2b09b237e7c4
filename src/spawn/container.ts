/**
 * One life of a container, from clone to cleanup (a reboot starts a new
 * one, as nspawn's run_container() loop does): console, helper, placement
 * in the machine's scope before the payload runs, and afterwards waiting
 * for the scope to empty, unregistering, and removing what we made. The
 * container is watched through a pidfd on its PID 1 and through its
 * scope, never through a parent process (the guest's systemd may hang up
 * the console, and with it anything attached to it).
 * @module
 */

import { randomUuid } from '../linux/random.ts'
import { closeSync, rmdirSync, rmSync, statSync } from 'node:fs'
import type { MachinedClient } from '../client/index.ts'
import { PROPAGATE_DIR } from '../protocol/propagate.ts'
import { pidfdOpen, pidfdSendSignal, pidfdWatch, type PidfdWatch } from '../native/pidfd.ts'
import { capabilityMask } from './capabilities.ts'
import { ContainerCgroup, hostLayout } from './cgroups.ts'
import { ConsoleForwarder } from './console.ts'
import { CONTAINER_MANAGER_ID } from './environment.ts'
import { Helper, type ExitStatus } from './helper.ts'
import type { ConsoleMode, SpawnOptions } from './options.ts'
import type { ImageRef } from './image-root.ts'
import { buildPlan, type DeviceNode } from './plan.ts'
import type { RootInput } from './plan-root.ts'
import { encodePlan } from './plan-codec.ts'
import { registerContainer, unregisterContainer } from './register.ts'
import { createVeth } from './veth.ts'


/** How long the helper may take to report an exit status once PID 1 is gone. */
const HELPER_REPORT_MS = 5000

/**
 * Host-side directories of ours (nspawn keeps the same under
 * /run/systemd/nspawn/). The propagation directory is nspawn's own path:
 * machined (ours, and systemd's) mounts there for BindMountMachine.
 */
export const RUNTIME_DIR = '/run/machined-spawn'

export interface ContainerConfig {
  readonly options: SpawnOptions
  /** How the root is put together (plan-root.ts). */
  readonly root: RootInput
  /** What machined is told the root directory is: the tree, or the staging directory an image or overlay is mounted on. */
  readonly rootDirectory: string
  /** The pool image it runs from, told to machined too. */
  readonly image: ImageRef | undefined
  readonly consoleMode: ConsoleMode
  /** 32 hex digits. */
  readonly id: string
  readonly argv: readonly string[]
  readonly environment: readonly string[]
  readonly hostOsRelease: string
  readonly devices: readonly DeviceNode[]
  readonly machined: MachinedClient | undefined
  readonly onEscape: () => void
  readonly onNotify: (fields: Map<string, string>) => void
}

function randomId(): string {
  return randomUuid().replace(/-/g, '')
}

export class Container {
  readonly pid: number
  readonly #config: ContainerConfig
  readonly #helper: Helper
  readonly #console: ConsoleForwarder | undefined
  readonly #pidfd: number
  readonly #watch: PidfdWatch
  readonly #cgroup: ContainerCgroup
  readonly #registered: boolean
  /** Resolves when PID 1 has exited (before its status is known). */
  readonly gone: Promise<void>

  private constructor(init: {
    config: ContainerConfig; helper: Helper; console: ConsoleForwarder | undefined; pid: number; pidfd: number
    cgroup: ContainerCgroup; registered: boolean
  }) {
    this.#config = init.config
    this.#helper = init.helper
    this.#console = init.console
    this.pid = init.pid
    this.#pidfd = init.pidfd
    this.#cgroup = init.cgroup
    this.#registered = init.registered
    let resolveGone!: () => void
    this.gone = new Promise((r) => { resolveGone = r })
    this.#watch = pidfdWatch(this.#pidfd, resolveGone)
    void init.helper.exited.then(resolveGone)
  }

  /**
   * Starts the container and returns once its payload runs. On failure
   * everything made so far is undone and the Error's message is one line.
   */
  static async start(config: ContainerConfig): Promise<Container> {
    const { options } = config
    const name = options.machine
    let console: ConsoleForwarder | undefined
    let helper: Helper | undefined
    let pidfd: number | undefined
    let placed: { cgroup: ContainerCgroup; registered: boolean } | undefined
    try {
      if (config.consoleMode !== 'pipe') {
        console = ConsoleForwarder.open({ mode: config.consoleMode, input: process.stdin, output: process.stdout, onEscape: config.onEscape })
      }
      helper = Helper.start(encodedPlan(config, console?.pty.path), console === undefined ? { pipe: true } : { console: console.pty.slave })
      helper.onNotify(config.onNotify)
      // Read while the helper starts (mountinfo: a good part of a millisecond), not after the registration.
      const layout = hostLayout()
      const pid = await helper.pid
      if (pid === 0) throw new Error(helper.error ?? 'The helper failed to start the container')
      pidfd = pidfdOpen(pid)
      // Placement before the payload runs, once PID 1 has made its mounts and nodes (the scope's device policy
      // would refuse its mknods): it waits at "wait-go" meanwhile.
      const veth = options.networkVeth ? await createVeth(name, pid) : undefined
      if (!(await helper.waiting)) throw new Error(helper.error ?? 'The container exited before it started')
      const request = {
        name, id: config.id, leader: pid, rootDirectory: config.rootDirectory, boot: options.boot,
        networkInterfaces: veth === undefined ? [] : [veth.ifindex], image: config.image,
      }
      if (config.machined !== undefined && !options.keepUnit) {
        // CreateMachine: machined makes the scope and has moved PID 1 into it when it answers.
        await registerContainer(config.machined, { ...request, allocateUnit: true })
        placed = { cgroup: ContainerCgroup.of(pid, layout), registered: true }
      } else {
        placed = { cgroup: ContainerCgroup.create(pid, options.keepUnit ? { kind: 'payload' } : { kind: 'scope', machine: name }, layout), registered: false }
        if (config.machined !== undefined) {
          await registerContainer(config.machined, { ...request, allocateUnit: false })
          placed.registered = true
        }
      }
      helper.go()
      await helper.running
      return new Container({ config, helper, console, pid, pidfd, cgroup: placed.cgroup, registered: placed.registered })
    } catch (err) {
      // Undo in the order that lets each step succeed: the container goes first, then its cgroup and registration.
      if (helper !== undefined) {
        helper.abort()
        await helper.exited
      }
      if (placed !== undefined) {
        await placed.cgroup.waitEmpty()
        if (placed.registered) await unregisterContainer(config.machined!, name).catch(() => undefined)
        placed.cgroup.remove()
      }
      if (pidfd !== undefined) closeSync(pidfd)
      await console?.close()
      removeRuntimeDirs(name)
      throw err instanceof Error ? err : new Error(String(err))
    }
  }

  /** Signals PID 1 (through its pidfd, so never a recycled PID). */
  signal(signal: number): void {
    try {
      pidfdSendSignal(this.#pidfd, signal)
    } catch {
      // Exited already.
    }
  }

  /**
   * Waits for the end — PID 1 gone (its pidfd) and the scope empty — then
   * unregisters and removes every cgroup, mount and directory we made. The
   * helper only tells us how PID 1 ended.
   */
  async finish(): Promise<ExitStatus> {
    await this.gone
    await this.#cgroup.waitEmpty()
    const status = await Promise.race([this.#helper.exited, new Promise<ExitStatus>((r) => setTimeout(() => r({ kind: 'lost' }), HELPER_REPORT_MS).unref())])
    if (this.#registered) await unregisterContainer(this.#config.machined!, this.#config.options.machine).catch(() => undefined)
    this.#cgroup.remove()
    this.#watch.close()
    try { closeSync(this.#pidfd) } catch { /* closed */ }
    await this.#console?.close()
    removeRuntimeDirs(this.#config.options.machine)
    return status
  }
}

/** What of a container's configuration its mount plan is made from. */
export type PlanSource = Pick<ContainerConfig, 'options' | 'root' | 'hostOsRelease' | 'id' | 'devices' | 'environment' | 'argv'>

/**
 * The helper's mount plan for one life of the container, encoded;
 * `consolePath`: the console pty's slave, when there is one. The build's
 * training run (scripts/train-spawn.js) makes the same call.
 */
export function encodedPlan(config: PlanSource, consolePath: string | undefined): string {
  const { options } = config
  const name = options.machine
  return encodePlan(buildPlan({
    root: config.root,
    privateNetwork: options.privateNetwork,
    networkVeth: options.networkVeth,
    hostOsRelease: config.hostOsRelease,
    consolePath,
    hostname: options.hostname ?? name,
    managerId: CONTAINER_MANAGER_ID,
    id: config.id,
    bootId: randomId(),
    binds: options.binds.map((b) => ({ ...b, sourceIsDirectory: isDirectory(b.source) })),
    propagateDir: `${PROPAGATE_DIR}/${name}`,
    unixExportDir: `${RUNTIME_DIR}/unix-export/${name}`,
    devices: config.devices,
    capabilities: capabilityMask({ privateNetwork: options.privateNetwork }),
    environment: config.environment,
    argv: config.argv,
  }))
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch (err) {
    throw new Error(`Failed to stat ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/** The host directories an image or an overlay is mounted on, in the container's namespace only (plan-root.ts). */
export function stagingDirs(name: string): { root: string; lower: string } {
  return { root: `${RUNTIME_DIR}/root/${name}`, lower: `${RUNTIME_DIR}/lower/${name}` }
}

/**
 * Removes this container's directories under RUNTIME_DIR and the parents
 * when nothing else is in them. The unix-export directory goes with its
 * sockets; the incoming one only with rmdir (the helper unmounts it; were it
 * still a mount point, rmdir refuses and nothing below is touched).
 */
function removeRuntimeDirs(name: string): void {
  rmSync(`${RUNTIME_DIR}/unix-export/${name}`, { recursive: true, force: true })
  const nspawnDir = PROPAGATE_DIR.slice(0, PROPAGATE_DIR.lastIndexOf('/'))
  const staging = stagingDirs(name)
  for (const dir of [`${PROPAGATE_DIR}/${name}`, PROPAGATE_DIR, nspawnDir, `${RUNTIME_DIR}/unix-export`, staging.root, staging.lower,
    `${RUNTIME_DIR}/root`, `${RUNTIME_DIR}/lower`, `${RUNTIME_DIR}/probe`, RUNTIME_DIR]) {
    try { rmdirSync(dir) } catch { /* in use by another container, or gone */ }
  }
}
