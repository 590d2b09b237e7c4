/**
 * Stopping a scope without systemd, in the two phases of systemd's
 * scope_enter_signal() and unit_kill_context(): first KillSignal= (then
 * SIGCONT, so a stopped process acts on it, and SIGHUP with SendSIGHUP=)
 * to whom KillMode= names; after TimeoutStopUSec=, FinalKillSignal=
 * (SIGKILL) unless SendSIGKILL=no.
 *
 * A scope has no main process in systemd; a machine has its leader, which
 * is what we signal where KillMode= names the main process (mixed,
 * process). Where systemd runs a container's scope, nspawn gets
 * RequestStop as the scope's Controller= and sends the container's PID 1
 * the same KillSignal= itself; without systemd nobody can send
 * RequestStop (nspawn takes it from org.freedesktop.systemd1 only), so we
 * send it, and the same signal reaches the same process.
 * @module
 */

import type { KillMode } from '../core/scope-properties.ts'
import { killCgroupTree } from '../linux/cgroup-tree.ts'
import { hasExited, readProcStat, signalQuietly } from '../linux/proc.ts'

const SIGHUP = 1
const SIGKILL = 9
const SIGCONT = 18

/** The kill settings a scope was made with, and its leader (0 when not known). */
export interface StopSettings {
  readonly killSignal: number
  readonly killMode: KillMode
  readonly sendSigkill: boolean
  readonly sendSighup: boolean
  readonly finalKillSignal: number
  readonly timeoutStopUsec: number
  readonly leaderPid: number
}

/** What follows the first phase: wait for the timeout, go to the last phase at once, or nothing (the stop is over). */
export type AfterFirstPhase = 'wait' | 'last-phase' | 'over'

/** SIGCONT after anything but SIGCONT and SIGKILL (pidref_kill_and_sigcont(), CGROUP_SIGCONT). */
function withSigcont(signal: number): number[] {
  return signal === SIGCONT || signal === SIGKILL ? [signal] : [signal, SIGCONT]
}

function signalGroup(dir: string, signals: readonly number[]): void {
  for (const s of signals) killCgroupTree(dir, s)
}

function signalLeader(pid: number, signals: readonly number[]): void {
  for (const s of signals) signalQuietly(pid, s)
}

/** Whether the leader still runs (a zombie does not): with KillMode=process the stop is over once it has gone. */
export function leaderRunning(pid: number, procRoot = '/proc'): boolean {
  if (pid <= 0) return false
  const stat = readProcStat(pid, procRoot)
  return stat !== undefined && !hasExited(stat)
}

/** The first phase (KILL_TERMINATE) on the scope's cgroup `dir`. */
export function firstPhase(dir: string, s: StopSettings): AfterFirstPhase {
  // KillMode=none: nothing is signalled and the unit is inactive at once; its processes stay.
  if (s.killMode === 'none') return 'over'
  const signals = withSigcont(s.killSignal)
  if (s.sendSighup && s.killSignal !== SIGHUP) signals.push(SIGHUP)
  if (s.killMode === 'control-group') {
    signalGroup(dir, signals)
    return 'wait'
  }
  // mixed and process name the main process: without one (a scope we took back without knowing its leader), systemd goes on to the last phase.
  if (!leaderRunning(s.leaderPid)) return 'last-phase'
  signalLeader(s.leaderPid, signals)
  return 'wait'
}

/** The last phase (KILL_KILL), after the timeout: FinalKillSignal to the whole cgroup (mixed, control-group) or the leader (process). */
export function lastPhase(dir: string, s: StopSettings): void {
  if (!s.sendSigkill || s.killMode === 'none') return
  const signals = withSigcont(s.finalKillSignal)
  if (s.killMode === 'process') {
    if (leaderRunning(s.leaderPid)) signalLeader(s.leaderPid, signals)
  } else {
    signalGroup(dir, signals)
  }
}

/** TimeoutStopUSec= in milliseconds for a timer, or undefined for infinity (and past what a timer can hold, about 24 days). */
export function stopTimeoutMs(usec: number): number | undefined {
  const ms = usec / 1000
  return ms >= 2 ** 31 - 1 ? undefined : ms
}
