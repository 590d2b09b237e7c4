/**
 * A container's files, reached as systemd-machined reaches them: the root
 * directory through /proc/<leader>/root, copies and bind mounts through
 * machined-enter copy and bind (native/enter/copy.c, bind.c), a small
 * program that joins the leader's mount namespace (Node cannot: setns()
 * wants a single-threaded process).
 * One helper process per request, like machined's forked children.
 * @module
 */

import { execFile } from 'node:child_process'
import { closeSync, constants, openSync } from 'node:fs'
import { getSystemErrorName } from 'node:util'
import { ENTER_PROGRAM } from '../native/addon.ts'
import { errnoError } from '../protocol/errno.ts'
import { FileNotFoundError, MachinedError } from '../protocol/errors.ts'
import type { BindMountRequest, CopyRequest, Log, MachineFiles, ProcessRef, Processes } from '../core/ports.ts'

/** How the helper said it failed: "<errno>\t<stage>\t<strerror>". */
export interface HelperFailure {
  readonly errnoName: string
  readonly stage: string
  readonly text: string
}

export function parseHelperFailure(stdout: string): HelperFailure | undefined {
  const m = /^(\d+)\t([a-z-]+)\t(.*)$/m.exec(stdout)
  if (m === null) return undefined
  let errnoName: string
  try {
    errnoName = getSystemErrorName(-Number(m[1]))
  } catch {
    errnoName = `E${m[1]}`
  }
  return { errnoName, stage: m[2]!, text: m[3]! }
}

export class HelperMachineFiles implements MachineFiles {
  readonly #processes: Processes
  readonly #helper: string
  readonly #procRoot: string
  readonly #log: Log | undefined

  constructor(options: { processes: Processes; helperPath?: string; procRoot?: string; log?: Log }) {
    this.#processes = options.processes
    this.#helper = options.helperPath ?? ENTER_PROGRAM
    this.#procRoot = options.procRoot ?? '/proc'
    this.#log = options.log
  }

  async openRootDirectory(leader: ProcessRef | undefined): Promise<number> {
    const path = leader === undefined ? '/' : `${this.#procRoot}/${leader.pid}/root`
    let fd: number
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ESRCH') throw new FileNotFoundError()
      throw err
    }
    // The PID must still be the leader's once the directory is open: a reused PID's root is not the machine's.
    if (leader !== undefined && !(await this.#processes.isAlive(leader))) {
      closeSync(fd)
      throw new FileNotFoundError()
    }
    return fd
  }

  async copy(request: CopyRequest): Promise<void> {
    const { leader, direction, hostPath, containerPath, uidShift, replace } = request
    const failure = await this.#run(leader, ['copy', String(leader.pid), direction, hostPath, containerPath, String(uidShift), replace ? '1' : '0'])
    if (failure === undefined) return
    // systemd fails the call itself when the host directory cannot be opened; later failures are the operation's (strerror alone).
    throw errnoError(failure.errnoName, failure.stage === 'host-dir' ? `Failed to open host directory ${hostPath}: ${failure.text}` : failure.text)
  }

  async bindMount(request: BindMountRequest): Promise<void> {
    const { leader, propagateDir, incomingDir, source, destination, readOnly, mkdir } = request
    const failure = await this.#run(leader, ['bind', String(leader.pid), propagateDir, incomingDir, source, destination, readOnly ? '1' : '0', mkdir ? '1' : '0'])
    if (failure !== undefined) throw errnoError(failure.errnoName, failure.text)
  }

  /** Runs the helper for a live leader; undefined when it succeeded. */
  async #run(leader: ProcessRef, args: string[]): Promise<HelperFailure | undefined> {
    if (!(await this.#processes.isAlive(leader))) throw new FileNotFoundError()
    return new Promise((resolve, reject) => {
      execFile(this.#helper, args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err === null) { resolve(undefined); return }
        const failure = parseHelperFailure(stdout)
        // The helper says which step failed on stderr; the caller gets systemd's shorter answer.
        this.#log?.debug('machined-enter failed', { args, error: stderr.trim() })
        if (failure !== undefined) { resolve(failure); return }
        // Killed, or not there at all: what systemd answers for a child that died without saying why.
        reject(new MachinedError('FAILED', 'Child died abnormally.', { cause: new Error(`${err.message} ${stderr}`) }))
      })
    })
  }
}
