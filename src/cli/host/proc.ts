/**
 * What `machinectl status` reads about processes on the local host:
 * a process's name (get_process_comm()) and command line
 * (get_process_cmdline(), as systemd's GetUnitProcesses() reports it).
 * @module
 */

import { readFileSync } from 'node:fs'

/** Control bytes as C escapes (cescape_char()), so a name cannot break a line. */
function escapeControls(s: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' }
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => named[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)
}

/** /proc/PID/comm without its newline; undefined when the process is gone. */
export function processComm(pid: number, procRoot = '/proc'): string | undefined {
  try {
    const comm = readFileSync(`${procRoot}/${pid}/comm`, 'utf8')
    return escapeControls(comm.replace(/\n$/, ''))
  } catch {
    return undefined
  }
}

/**
 * The command line, arguments joined by spaces, or "[comm]" for a kernel
 * thread or a zombie (PROCESS_CMDLINE_COMM_FALLBACK); undefined when gone.
 */
export function processCmdline(pid: number, procRoot = '/proc'): string | undefined {
  let raw: Buffer
  try {
    raw = readFileSync(`${procRoot}/${pid}/cmdline`)
  } catch {
    return undefined
  }
  const text = raw.toString('utf8').replace(/\0/g, ' ').replace(/[ \t\n\r]+$/, '')
  if (text === '') {
    const comm = processComm(pid, procRoot)
    return comm === undefined ? undefined : `[${comm}]`
  }
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}
