/**
 * Where a verb writes, and the facts about the terminal that change what
 * it writes (systemd's on_tty() and columns()).
 * @module
 */

import { fstatSync, writeSync } from 'node:fs'

export interface Io {
  out(text: string): void
  err(text: string): void
  /** The terminal's width when stdout is one; undefined when it is a pipe or file. */
  readonly terminalColumns: number | undefined
  /** The same for stderr, where progress bars go; undefined when it is no terminal. */
  readonly errTerminalColumns?: number | undefined
  readonly env: NodeJS.ProcessEnv
}

/**
 * isatty(): Node's stream for the fd (and node:tty, which loads node:net
 * and the streams: about 5 ms of every start) is asked only about a
 * character device other than the memory devices (major 1: /dev/null,
 * /dev/zero, ...): pipes, files and /dev/null are no terminal.
 */
function isTerminal(fd: 1 | 2, stream: () => NodeJS.WriteStream): boolean {
  let stat
  try {
    stat = fstatSync(fd)
  } catch {
    return false // closed
  }
  if (!stat.isCharacterDevice() || ((stat.rdev >> 8) & 0xfff) === 1) return false
  return stream().isTTY === true
}

/** columns(): $COLUMNS if it is a sane number, else the terminal's width, else 80. */
function terminalColumnsOf(fd: 1 | 2, stream: () => NodeJS.WriteStream, env: NodeJS.ProcessEnv): number | undefined {
  if (!isTerminal(fd, stream)) return undefined
  const fromEnv = Number(env.COLUMNS)
  if (Number.isInteger(fromEnv) && fromEnv > 0 && fromEnv <= 0xffff) return fromEnv
  const { columns } = stream()
  return columns > 0 ? columns : 80
}

/**
 * Writes to fd 1 or 2 as machinectl's stdio does: at once, in this process.
 * Node's process.stdout costs about 10 ms of module loading on every start,
 * so it is used only once a write would block (a pipe whose reader is slow
 * and that someone made non-blocking): from then on everything goes through
 * it, in order, and `pending()` tells the caller to wait for it to drain.
 * A reader that went away (`mctl list | head -1`, EPIPE) gets nothing more.
 */
class FdWriter {
  #stream: NodeJS.WriteStream | undefined
  #gone = false
  readonly #fd: 1 | 2
  readonly #streamOf: () => NodeJS.WriteStream
  constructor(fd: 1 | 2, streamOf: () => NodeJS.WriteStream) {
    this.#fd = fd
    this.#streamOf = streamOf
  }

  write(text: string): void {
    if (text === '' || this.#gone) return
    if (this.#stream !== undefined) {
      this.#stream.write(text)
      return
    }
    let left = Buffer.from(text)
    try {
      while (left.length > 0) left = left.subarray(writeSync(this.#fd, left))
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EPIPE') this.#gone = true
      else if (code === 'EAGAIN') this.#viaStream().write(left)
      else throw err
    }
  }

  #viaStream(): NodeJS.WriteStream {
    const stream = this.#streamOf()
    stream.on('error', () => { this.#gone = true })
    this.#stream = stream
    return stream
  }

  /** Resolves once what went through the stream is written (or the stream is gone). */
  async drained(): Promise<void> {
    const stream = this.#stream
    if (stream === undefined || this.#gone || stream.writableLength === 0) return
    await new Promise<void>((resolve) => { stream.once('drain', resolve); stream.once('close', resolve) })
  }
}

/** The process's own stdout and stderr; `drained()` before exiting. */
export function processIo(): Io & { drained(): Promise<void> } {
  const stdout = new FdWriter(1, () => process.stdout)
  const stderr = new FdWriter(2, () => process.stderr)
  return {
    out: (text) => { stdout.write(text) },
    err: (text) => { stderr.write(text) },
    terminalColumns: terminalColumnsOf(1, () => process.stdout, process.env),
    errTerminalColumns: terminalColumnsOf(2, () => process.stderr, process.env),
    env: process.env,
    drained: async () => { await Promise.all([stdout.drained(), stderr.drained()]) },
  }
}
