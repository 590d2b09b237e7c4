/**
 * machined-spawn as a user runs it (`npx machined-spawn …`), inside a test
 * sandbox, with its console and messages captured.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { SPAWN_HELPER_PROGRAM } from '../../src/native/addon.ts'
import { eventually, REPO, sleep, type Sandbox } from './sandbox.ts'

export interface SpawnExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export class SpawnRun {
  readonly child: ChildProcess
  readonly exited: Promise<SpawnExit>
  readonly startedAt = Date.now()
  #out = ''
  #err = ''

  private constructor(child: ChildProcess) {
    this.child = child
    child.stdout?.on('data', (c: Buffer) => { this.#out += c.toString() })
    child.stderr?.on('data', (c: Buffer) => { this.#err += c.toString() })
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  }

  /** `npx machined-spawn ARGS` in the sandbox; stdin is /dev/null unless `input` is given. */
  static start(sb: Sandbox, args: string[], options: { input?: string } = {}): SpawnRun {
    // Entering a mount namespace resets the working directory: give nsenter ours, so npx finds this checkout.
    const [nsenter, mountNs] = sb.nsenter
    const child = spawn(nsenter!, [mountNs!, `--wd=${REPO}`, '--', 'npx', '--no-install', 'machined-spawn', ...args], {
      env: sb.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined)
      child.stdin?.end(options.input)
    }
    return new SpawnRun(child)
  }

  /** Runs to the end and returns everything. */
  static async run(sb: Sandbox, args: string[], options: { input?: string } = {}): Promise<SpawnExit & { stdout: string; stderr: string }> {
    const r = SpawnRun.start(sb, args, options)
    const exit = await r.exited
    return { ...exit, stdout: r.stdout, stderr: r.stderr }
  }

  get stdout(): string {
    return this.#out
  }

  get stderr(): string {
    return this.#err
  }

  /** The machined-spawn process itself (npx runs it as a child): where SIGTERM goes. */
  managerPid(): number {
    const stack = [this.child.pid!]
    while (stack.length > 0) {
      const p = stack.pop()!
      let cmdline = ''
      try { cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8') } catch { /* gone */ }
      if (cmdline.includes('bin/machined-spawn')) return p
      const r = spawnSync('pgrep', ['-P', String(p)], { encoding: 'utf8' })
      stack.push(...r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number))
    }
    throw new Error('machined-spawn is not running')
  }
}

/** Stops machined-spawn (a clean guest shutdown) unless the guest ended already. */
export async function stopGuest(run: SpawnRun | undefined): Promise<void> {
  if (run === undefined || run.child.exitCode !== null) return
  try { process.kill(run.managerPid(), 'SIGTERM') } catch { /* gone */ }
  await run.exited
}

/** The leader machined has for NAME (PID 1 of the container as the host sees it). */
export async function machineLeader(sb: Sandbox, name: string, timeoutMs = 10_000): Promise<number> {
  return eventually(() => {
    const r = sb.execSync(['sed', '-n', 's/^LEADER=//p', `/run/systemd/machines/${name}`])
    const pid = Number(r.stdout.trim())
    return r.code === 0 && pid > 0 ? pid : undefined
  }, timeoutMs, `machine ${name} to be registered`)
}

/**
 * Runs a command inside the guest as one of its own services (through the
 * guest's systemd). systemd expands ${VAR} in a unit's command line, so a
 * script goes in on stdin (`sh -s`), never as an argument.
 */
export function guestExec(sb: Sandbox, leader: number, argv: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return sb.exec(['nsenter', '-t', String(leader), '-a', '--', 'systemd-run', '--pipe', '--wait', '--quiet', '--collect', ...argv], {
    timeoutMs: options.timeoutMs ?? 30_000, ...(options.input === undefined ? {} : { input: options.input }),
  })
}

/** Waits until the guest's systemd has finished booting; returns its final state ("running" or "degraded"). */
export async function waitBooted(sb: Sandbox, leader: number, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const r = await sb.exec(['nsenter', '-t', String(leader), '-a', '--', 'systemctl', 'is-system-running', '--wait'], { timeoutMs })
    // Right after the exec the guest's systemd has not opened its private socket yet ("offline" from systemctl).
    const early = r.stderr.includes('Failed to connect to bus') || r.stdout.trim() === 'offline' || r.stdout.trim() === ''
    if (!early || Date.now() > deadline) return r.stdout.trim()
    await sleep(20)
  }
}

/**
 * The PIDs of this checkout's machined-spawn helpers (its argv[0] is the
 * program's full path): another checkout's test run on the same machine
 * has helpers of its own, which are none of this run's business.
 */
export function helperPids(): string[] {
  const argv0 = `${SPAWN_HELPER_PROGRAM}\0`
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(argv0) } catch { return false }
  })
}
