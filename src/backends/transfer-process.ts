/**
 * The tools a transfer runs (tar, the decompressors, dd, qemu-img, gpgv,
 * cp): each a child process of the job, its stderr turned into log lines
 * as importd does with its tools' stderr (they share the log pipe), and
 * its end awaited without blocking the daemon. Tools that write into the
 * pool run with the capability bounding set systemd gives tar
 * (import_fork_tar_x(): CAP_CHOWN, CAP_FOWNER, CAP_FSETID, CAP_MKNOD,
 * CAP_SETFCAP, CAP_DAC_OVERRIDE), through util-linux's setpriv.
 * @module
 */

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import type { Readable } from 'node:stream'
import type { JobContext } from './transfer-job.ts'

/** import_fork_tar_x()'s retained capabilities; `mknod: false` drops CAP_MKNOD too (no device nodes). */
export function extractCapabilities(options: { mknod: boolean }): string {
  return `-all,+chown,+fowner,+fsetid,+setfcap,+dac_override${options.mknod ? ',+mknod' : ''}`
}

/** import_fork_tar_c()'s: reading the tree needs CAP_DAC_OVERRIDE only. */
export const READ_CAPABILITIES = '-all,+dac_override,+dac_read_search'

export interface ToolOptions {
  /** An fd for stdin, 'pipe' to write to it, or a readable pipe of another tool. */
  readonly stdin?: number | 'pipe' | 'ignore' | Readable
  readonly stdout?: number | 'pipe' | 'ignore'
  /** Extra fds, seen by the tool as 3, 4, … */
  readonly extraFds?: readonly number[]
  /** The capability bounding set to run with (setpriv --bounding-set=…); undefined: unchanged. */
  readonly capabilities?: string
  /** Called with each line the tool writes to stderr; by default it goes to the log at info level. */
  readonly onStderr?: (line: string) => void
}

export interface ToolExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running tool: its process, and its end. */
export interface Tool {
  readonly child: ChildProcess
  readonly name: string
  readonly exited: Promise<ToolExit>
}

/** Splits a stream into lines as they come (the last line may lack its newline). */
function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let buffered = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line !== '') onLine(line)
    }
    // Log lines have a size (LINE_MAX in importd): a longer one is cut.
    if (buffered.length > 2048) { onLine(buffered); buffered = '' }
  })
  stream.on('end', () => { if (buffered !== '') onLine(buffered) })
}

/** Starts `command` as a tool of the job. */
export function startTool(job: JobContext, command: string, args: readonly string[], options: ToolOptions = {}): Tool {
  const argv = options.capabilities === undefined ? [command, ...args] : ['setpriv', `--bounding-set=${options.capabilities}`, '--', command, ...args]
  const stdio: StdioOptions = [options.stdin ?? 'ignore', options.stdout ?? 'ignore', 'pipe', ...(options.extraFds ?? [])]
  const child = spawn(argv[0]!, argv.slice(1), { stdio, env: { ...process.env, LC_ALL: 'C' } })
  job.adopt(child)
  const onStderr = options.onStderr ?? ((line: string) => job.info(line))
  if (child.stderr !== null) forEachLine(child.stderr, onStderr)
  const exited = new Promise<ToolExit>((resolve) => {
    child.once('error', (err) => {
      job.fail(`Failed to execute ${command}: ${err.message}`)
      resolve({ code: 127, signal: null })
    })
    // 'close': stderr has been read to its end, so every line is logged before the exit is known.
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  return { child, name: command, exited }
}

/**
 * wait_for_terminate_and_check(…, WAIT_LOG): throws, after logging "NAME
 * failed with exit status N." (or "… terminated by signal …"), unless the
 * tool succeeded.
 */
export async function expectSuccess(job: JobContext, tool: Tool): Promise<void> {
  const { code, signal } = await tool.exited
  if (code === 0) return
  job.checkCancelled()
  if (signal !== null) throw job.fail(`${tool.name} terminated by signal ${signal}.`)
  throw job.fail(`${tool.name} failed with exit status ${code}.`)
}

/** Runs a tool to its end; resolves to what it wrote to stdout. */
export async function runToolOutput(job: JobContext, command: string, args: readonly string[], options: ToolOptions = {}): Promise<string> {
  const tool = startTool(job, command, args, { ...options, stdout: 'pipe' })
  let out = ''
  tool.child.stdout?.setEncoding('utf8')
  tool.child.stdout?.on('data', (c: string) => { if (out.length < 1 << 20) out += c })
  await expectSuccess(job, tool)
  return out
}

/** Runs a tool to its end. */
export async function runJobTool(job: JobContext, command: string, args: readonly string[], options: ToolOptions = {}): Promise<void> {
  await expectSuccess(job, startTool(job, command, args, options))
}
