/**
 * VMs in tests: the test image (scripts/vm-image.sh builds it once and
 * caches it under /var/tmp/machined-ts/) and machined-vmspawn launched the
 * way a user launches it (`npx machined-vmspawn`), inside a Sandbox so
 * that it registers with the sandbox's daemon. Missing tools make the
 * image build fail, and with it the test: nothing here skips.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO, type Sandbox } from './sandbox.ts'

export interface VmImage {
  readonly kernel: string
  readonly initrd: string
  /** The kernel command line the image needs (machined-vmspawn puts console=ttyS0 first). */
  readonly append: string
}

let cached: VmImage | undefined

/** Builds the image when it is not cached yet (about a minute), else returns at once. */
export function vmImage(): VmImage {
  if (cached !== undefined) return cached
  const r = spawnSync('bash', [join(REPO, 'scripts/vm-image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 15 * 60_000 })
  if (r.status !== 0) throw new Error(`scripts/vm-image.sh failed (${r.status ?? r.signal}); see its output above`)
  const v = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  if (v.KERNEL === undefined || v.INITRD === undefined || v.APPEND === undefined) throw new Error(`scripts/vm-image.sh printed no image:\n${r.stdout}`)
  cached = { kernel: v.KERNEL, initrd: v.INITRD, append: v.APPEND }
  return cached
}

/** A running `npx machined-vmspawn …` whose output the test can wait on. */
export class Launcher {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(child: ChildProcess) {
    this.child = child
    child.stdout?.on('data', (c: Buffer) => { this.stdout += c.toString('latin1') })
    child.stderr?.on('data', (c: Buffer) => { this.stderr += c.toString() })
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
  }

  /** Resolves with the first match of `pattern` in stdout (the guest's console) or stderr. */
  async waitFor(pattern: RegExp, options: { stream?: 'stdout' | 'stderr'; timeoutMs?: number; after?: number } = {}): Promise<RegExpExecArray> {
    const stream = options.stream ?? 'stdout'
    const deadline = Date.now() + (options.timeoutMs ?? 120_000)
    let done = false
    void this.exited.then(() => { done = true })
    for (;;) {
      const text = (stream === 'stdout' ? this.stdout : this.stderr).slice(options.after ?? 0)
      const m = pattern.exec(text)
      if (m !== null) return m
      if (done) throw new Error(`machined-vmspawn exited before ${pattern} appeared on ${stream}.\nstderr:\n${this.stderr}\nconsole tail:\n${this.stdout.slice(-3000)}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on ${stream}.\nstderr:\n${this.stderr}\nconsole tail:\n${this.stdout.slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** The launcher itself (npx runs it as a grandchild): the machine's leader. */
  get pid(): number | undefined {
    return findLauncherPid(this.child.pid)
  }
}

function children(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number)
}

function cmdline(pid: number): string {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') } catch { return '' }
}

function findLauncherPid(root: number | undefined): number | undefined {
  const stack = root === undefined ? [] : [root]
  while (stack.length > 0) {
    const p = stack.pop()!
    if (/^node .*machined-vmspawn/.test(cmdline(p)) || /^\S*node \S*bin\/machined-vmspawn/.test(cmdline(p))) return p
    stack.push(...children(p))
  }
  return undefined
}

/**
 * Starts `npx machined-vmspawn ARGS` inside the sandbox's mount namespace
 * (its /run, its bus, its daemon), from the repository like a user;
 * `command` replaces `npx --no-install machined-vmspawn`, `stdin: 'pipe'`
 * lets the test type.
 */
export function launchVm(sb: Sandbox, args: string[], options: { command?: string[]; stdin?: 'pipe' | 'ignore' } = {}): Launcher {
  const nsenter = [...sb.nsenter.slice(0, -1), `--wd=${REPO}`, '--']
  const command = options.command ?? ['npx', '--no-install', 'machined-vmspawn']
  const child = spawn(nsenter[0]!, [...nsenter.slice(1), ...command, ...args], {
    env: sb.env,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  })
  return new Launcher(child)
}

/** PIDs of processes whose command line mentions `needle` (e.g. a VM's UUID): what a VM could leave behind. */
export function processesMentioning(needle: string): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue
    if (cmdline(Number(e)).includes(needle)) out.push(Number(e))
  }
  return out
}
