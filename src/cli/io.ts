/**
 * Where a verb writes, and the facts about the terminal that change what
 * it writes (systemd's on_tty() and columns()).
 * @module
 */

export interface Io {
  out(text: string): void
  err(text: string): void
  /** The terminal's width when stdout is one; undefined when it is a pipe or file. */
  readonly terminalColumns: number | undefined
  /** The same for stderr, where progress bars go; undefined when it is no terminal. */
  readonly errTerminalColumns?: number | undefined
  readonly env: NodeJS.ProcessEnv
}

/** columns(): $COLUMNS if it is a sane number, else the terminal's width, else 80. */
export function terminalColumnsOf(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): number | undefined {
  if (stream.isTTY !== true) return undefined
  const fromEnv = Number(env.COLUMNS)
  if (Number.isInteger(fromEnv) && fromEnv > 0 && fromEnv <= 0xffff) return fromEnv
  return stream.columns > 0 ? stream.columns : 80
}

export function processIo(): Io {
  return {
    out: (text) => { if (text !== '') process.stdout.write(text) },
    err: (text) => { if (text !== '') process.stderr.write(text) },
    terminalColumns: terminalColumnsOf(process.stdout, process.env),
    errTerminalColumns: terminalColumnsOf(process.stderr, process.env),
    env: process.env,
  }
}
