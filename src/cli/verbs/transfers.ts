/**
 * machinectl's transfer verbs (import_tar(), import_raw(), import_fs(),
 * export_tar(), export_raw(), pull_tar(), pull_raw(), list_transfers(),
 * cancel_transfer() and transfer_image_common() of machinectl.c), with its
 * checks, messages and exit codes. Two things differ on purpose: on a
 * terminal a progress bar follows the transfer (machinectl prints only
 * the transfer's log lines), and Ctrl-C cancels the transfer (machinectl
 * leaves it running in the background; a second Ctrl-C does that here).
 * @module
 */

import { constants, openSync } from 'node:fs'
import { basename } from 'node:path'
import type { StartedTransfer } from '../../client/transfer-types.ts'
import { CliError, describeError } from '../errors.ts'
import { startProgressBar } from '../progress.ts'
import { parseCInt } from '../../protocol/signals.ts'
import type { VerbContext } from '../verb.ts'
import {
  exportFormatFromFileName, localNameIsValid, pullUrlIsValid, rawStripSuffixes, tarStripSuffixes, urlLastComponent, type TransferRecord,
} from '../../protocol/transfer.ts'

/** LOG_INFO: what --quiet hides. */
const LOG_INFO = 6

/** empty_or_dash_to_null(). */
const given = (s: string | undefined): string | undefined => (s === undefined || s === '' || s === '-' ? undefined : s)

function openOrFail(path: string, flags: number, what: string, mode?: number): number {
  try {
    return openSync(path, flags | constants.O_NOCTTY, mode)
  } catch (err) {
    throw new CliError(`${what}: ${describeError(err)}`)
  }
}

/** Our stdin or stdout for the daemon: reopened, so the connection may close what it sends. */
function stdio(which: 0 | 1): number {
  return openSync(`/proc/self/fd/${which}`, which === 0 ? 'r' : 'w')
}

/**
 * transfer_image_common(): says which job it is, prints the transfer's
 * log lines as they come, and returns 0 once it is done, 1 if it failed
 * or was cancelled.
 */
async function follow(ctx: VerbContext, start: () => Promise<StartedTransfer>, label: string): Promise<number> {
  let t: StartedTransfer
  try {
    t = await start()
  } catch (err) {
    throw new CliError(`Failed to transfer image: ${describeError(err)}`)
  }
  const { io, options } = ctx
  if (!options.quiet) io.err(`Enqueued transfer job ${t.id}. Press C-c to cancel the transfer.\n`)
  const stopBar = startProgressBar(ctx, label, {
    percent: true,
    total: async () => ((await t.progress()) === undefined ? undefined : 100),
    done: async () => ((await t.progress()) ?? 0) * 100,
  })
  let interrupts = 0
  const onInterrupt = (): void => {
    interrupts++
    if (interrupts === 1) {
      if (!options.quiet) io.err(`\r\x1b[KCancelling transfer ${t.id}.\n`)
      t.cancel().catch((err: unknown) => io.err(`Could not cancel transfer: ${describeError(err)}\n`))
    } else {
      if (!options.quiet) io.err(`\r\x1b[KContinuing the transfer in the background. Use "mctl cancel-transfer ${t.id}" to abort it.\n`)
      t.close()
    }
  }
  process.on('SIGINT', onInterrupt)
  process.on('SIGTERM', onInterrupt)
  try {
    for await (const e of t.events) {
      if (e.type !== 'log' || (options.quiet && e.priority >= LOG_INFO)) continue
      io.err(`${io.errTerminalColumns === undefined ? '' : '\r\x1b[K'}${e.line}\n`)
    }
    const result = await t.result.catch(() => 'detached' as const)
    return result === 'done' ? 0 : 1
  } finally {
    process.off('SIGINT', onInterrupt)
    process.off('SIGTERM', onInterrupt)
    stopBar()
    t.close()
  }
}

/** import-tar / import-raw [FILE|-] [NAME]. */
export async function importFile(ctx: VerbContext): Promise<number> {
  const kind = ctx.args[0] === 'import-raw' ? 'raw' : 'tar'
  const path = given(ctx.args[1])
  let local = ctx.args.length >= 3 ? given(ctx.args[2]) : path === undefined ? undefined : basename(path)
  if (path !== undefined && ctx.args.length < 3 && path.endsWith('/')) {
    throw new CliError(`Path '${path}' refers to directory, but we need a regular file: Is a directory`)
  }
  if (local === undefined) throw new CliError('Need either path or local name.')
  local = kind === 'tar' ? tarStripSuffixes(local) : rawStripSuffixes(local)
  if (!localNameIsValid(local)) throw new CliError(`Local name ${local} is not a suitable machine name.`)
  const fd = path === undefined ? stdio(0) : openOrFail(path, constants.O_RDONLY, `Failed to open ${path}`)
  const client = await ctx.connect()
  return follow(ctx, () => client.transfers.importImage(kind, fd, local, { force: ctx.options.force, readOnly: ctx.options.readOnly }), 'Importing')
}

/** import-fs [DIRECTORY|-] [NAME]. */
export async function importDirectory(ctx: VerbContext): Promise<number> {
  const path = given(ctx.args[1])
  const local = ctx.args.length >= 3 ? given(ctx.args[2]) : path === undefined ? undefined : basename(path.replace(/\/+$/, ''))
  if (local === undefined) throw new CliError('Need either path or local name.')
  if (!localNameIsValid(local)) throw new CliError(`Local name ${local} is not a suitable machine name.`)
  const fd = path === undefined ? stdio(0) : openOrFail(path, constants.O_RDONLY | constants.O_DIRECTORY, `Failed to open directory '${path}'`)
  const client = await ctx.connect()
  return follow(ctx, () => client.transfers.importImage('fs', fd, local, { force: ctx.options.force, readOnly: ctx.options.readOnly }), 'Importing')
}

/** export-tar / export-raw NAME [FILE|-]. */
export async function exportImage(ctx: VerbContext): Promise<number> {
  const kind = ctx.args[0] === 'export-raw' ? 'raw' : 'tar'
  const local = ctx.args[1]!
  if (!localNameIsValid(local)) throw new CliError(`Machine name ${local} is not valid.`)
  const path = given(ctx.args[2])
  const format = ctx.options.format ?? (path === undefined ? undefined : exportFormatFromFileName(path)) ?? ''
  const fd = path === undefined ? stdio(1) : openOrFail(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, `Failed to open ${path}`, 0o666)
  const client = await ctx.connect()
  return follow(ctx, () => client.transfers.exportImage(kind, local, fd, format), 'Exporting')
}

/** pull-tar / pull-raw URL [NAME]. */
export async function pullImage(ctx: VerbContext): Promise<number> {
  const kind = ctx.args[0] === 'pull-raw' ? 'raw' : 'tar'
  const url = ctx.args[1]!
  if (!pullUrlIsValid(url)) throw new CliError(`URL '${url}' is not valid.`)
  let local: string | undefined
  if (ctx.args.length >= 3) {
    local = given(ctx.args[2])
  } else {
    local = urlLastComponent(url)
    if (local === undefined) throw new CliError('Failed to get final component of URL: Invalid argument')
  }
  if (local !== undefined) {
    local = kind === 'tar' ? tarStripSuffixes(local) : rawStripSuffixes(local)
    if (!localNameIsValid(local)) throw new CliError(`Local name ${local} is not a suitable machine name.`)
  }
  const client = await ctx.connect()
  return follow(ctx, () => client.transfers.pull(kind, url, local ?? '', { verify: ctx.options.verify, force: ctx.options.force }), 'Downloading')
}

/** DECIMAL_STR_WIDTH(). */
const decimalWidth = (n: number): number => String(n).length

/** list_transfers(): sorted by local name, as machinectl prints them (printf widths included, trailing spaces too). */
export function formatTransfers(transfers: readonly TransferRecord[], legend: boolean): string {
  const rows = [...transfers].sort((a, b) => (a.local < b.local ? -1 : a.local > b.local ? 1 : 0))
  const idWidth = Math.max(2, decimalWidth(Math.max(0, ...rows.map((t) => t.id))))
  const width = (key: 'type' | 'local' | 'remote', header: string): number => Math.max(header.length, ...rows.map((t) => Buffer.byteLength(t[key])))
  const [type, local, remote] = [width('type', 'TYPE'), width('local', 'LOCAL'), width('remote', 'REMOTE')]
  const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - Buffer.byteLength(s)))
  let out = ''
  if (legend && rows.length > 0) out += `${pad('ID', idWidth)} ${pad('PERCENT', 7)} ${pad('TYPE', type)} ${pad('LOCAL', local)} ${pad('REMOTE', remote)}\n`
  for (const t of rows) {
    const percent = t.progress < 0 ? 'n/a'.padStart(7) : `${String(Math.trunc(t.progress * 100)).padStart(6)}%`
    out += `${String(t.id).padStart(idWidth)} ${percent} ${pad(t.type, type)} ${pad(t.local, local)} ${pad(t.remote, remote)}\n`
  }
  if (legend) out += rows.length > 0 ? `\n${rows.length} transfers listed.\n` : 'No transfers.\n'
  return out
}

export async function listTransfers(ctx: VerbContext): Promise<number> {
  const client = await ctx.connect()
  const transfers = await client.transfers.list().catch((err: unknown) => { throw new CliError(`Could not get transfers: ${describeError(err)}`) })
  ctx.io.out(formatTransfers(transfers, ctx.options.legend))
  return 0
}

/** cancel-transfer ID…: safe_atou32() on each, then CancelTransfer. */
export async function cancelTransfers(ctx: VerbContext): Promise<number> {
  const client = await ctx.connect()
  for (const arg of ctx.args.slice(1)) {
    // safe_atou32(): C's bases (0x…, 0…), never negative.
    const id = /^[ \t\n\r]*-/.test(arg) ? undefined : parseCInt(arg)
    if (id === undefined || id < 0 || id > 0xffff_ffff) throw new CliError(`Failed to parse transfer id: ${arg}`)
    await client.transfers.cancel(id).catch((err: unknown) => { throw new CliError(`Could not cancel transfer: ${describeError(err)}`) })
  }
  return 0
}
