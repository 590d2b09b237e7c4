/**
 * A world for the layout matrix: somewhere machined-ts runs with real
 * clients next to it, on one kind of host layout. The shared cases
 * (`*.case.ts`) see only this interface, so the same case runs on this
 * machine's hybrid layout, on a pure cgroup2 view and inside a guest whose
 * PID 1 is systemd, and every cgroup path it looks at comes from the layout
 * the world's own mount table shows (`cgroups`).
 *
 * A case that cannot apply to a layout says so by name after checking why,
 * never by passing silently (matrix.ts).
 * @module
 */

import type { CgroupLayout } from '../../src/linux/cgroup-layout.ts'
import type { Exec } from '../helpers/sandbox.ts'

/** This host's own layout (hybrid here), a pure cgroup2 view of it, a guest whose PID 1 is systemd. */
export type LayoutName = 'host' | 'unified' | 'systemd'

/** A process started for a case: the leader of a machine to be. */
export interface WorldProcess {
  /** Its PID as the world's daemon and clients see it. */
  readonly pid: number
  /** Lets its script go on: until then it only waits (so it can be moved into a scope before it forks). */
  release(): Promise<void>
}

/** A container booted by machined-spawn in the world. */
export interface WorldContainer {
  readonly name: string
  /** The container's PID 1 as the world sees it. */
  readonly leader: number
  /** Resolves with machined-spawn's exit status once it has ended. */
  readonly exited: Promise<number | null>
  /** Ends it however it can (for clean-up after a failure). */
  kill(): Promise<void>
}

export interface World extends Exec {
  readonly layout: LayoutName
  /** What this layout is, for the summary line. */
  readonly title: string
  /** The cgroup layout the world's daemon and clients see (its mount table). */
  readonly cgroups: CgroupLayout
  /** A machine name unique to this run; its scope is removed at the end. */
  name(base: string): string
  /**
   * Starts `script` under sh (by default `exec sleep 1000`: the leader is
   * the only process) as a machine's leader to be, outside any
   * machine's scope; with `unit`, inside a scope of that name below
   * machine.slice, as a service manager or container manager would have
   * put it there before registering.
   */
  spawnLeader(script?: string, options?: { unit?: string }): Promise<WorldProcess>
  /** Whether the process runs (a zombie does not). */
  isRunning(pid: number): boolean
  /** /proc/PID/cgroup as the world reads it (its cgroup namespace). */
  procCgroup(pid: number): Promise<string>
  /** A path of the world's file system as this test process reaches it. */
  path(worldPath: string): string
  /** A directory of the world's own, with the host path of it, removed at the end. */
  scratchDir(prefix: string): { world: string; host: string }
  /** A long-running client in the world (busctl monitor): its output so far, and a way to end it. */
  watch(argv: string[]): { output(): string; stop(): void }
  /** Stops the daemon (as its service manager would with this signal; SIGKILL is a crash). */
  stopDaemon(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>
  startDaemon(): Promise<void>
  /** What the daemon has logged so far. */
  daemonLog(): Promise<string>
  /** Where systemd is PID 1: a unit's properties as it holds them (systemctl show). */
  unitProperties?(unit: string, names: readonly string[]): Promise<Record<string, string>>
  /** Boots a Debian guest with machined-spawn (`-b`), registered with the daemon. */
  bootContainer(name: string): Promise<WorldContainer>
  /** Everything the world started goes: processes, scopes, mounts, files. */
  dispose(): Promise<void>
}
