/**
 * machinectl's image verbs (list_images(), clone_image(), rename_image(),
 * read_only_image(), remove_image(), set_limit(), clean_images() of
 * machinectl.c), with its messages and exit codes. A clone that takes a
 * while shows a progress bar on stderr when it is a terminal (machinectl
 * has none): the copy is watched from outside as it grows under its
 * temporary name in the pool.
 * @module
 */

import type { MachinedClient } from '../../client/types.ts'
import { UINT64_MAX } from '../../protocol/image.ts'
import { CliError, describeError } from '../errors.ts'
import { treeSize } from '../host/tree-size.ts'
import { formatBytes, parseSize } from '../output/bytes.ts'
import { parseBoolean } from '../output/properties.ts'
import { Table, type Cell } from '../output/table.ts'
import { formatTimestamp } from '../output/timestamp.ts'
import { startProgressBar } from '../progress.ts'
import type { VerbContext } from '../verb.ts'
import { showTable } from './list.ts'

const POOL = '/var/lib/machines'

function timestampCell(usec: bigint): Cell {
  return { text: formatTimestamp(usec) ?? '-', json: usec === UINT64_MAX ? null : Number(usec) }
}

export async function listImages(ctx: VerbContext): Promise<number> {
  const { options } = ctx
  const client = await ctx.connect()
  const images = await client.images.list().catch((err: unknown) => { throw new CliError(`Could not get images: ${describeError(err)}`) })
  // The USAGE header is right-aligned, and every cell below it takes the header's alignment.
  const table = new Table(['name', 'type', 'ro', 'usage', 'created', 'modified'], { rightAligned: [3] })
  for (const i of images) {
    if (i.name.startsWith('.') && !options.all) continue
    table.addRow([
      i.name, i.type, { text: i.readOnly ? 'yes' : 'no', json: i.readOnly },
      { text: formatBytes(i.usage) ?? null, json: i.usage === UINT64_MAX ? null : Number(i.usage) },
      timestampCell(i.crtime), timestampCell(i.mtime),
    ])
  }
  showTable(table, 'images', { ...options, maxAddresses: 0 }, ctx.io, { ersatz: '' })
  return 0
}

export async function removeImages(ctx: VerbContext): Promise<number> {
  const client = await ctx.connect()
  for (const name of ctx.args.slice(1)) {
    await client.images.remove(name).catch((err: unknown) => { throw new CliError(`Could not remove image: ${describeError(err)}`) })
  }
  return 0
}

export async function renameImage(ctx: VerbContext): Promise<number> {
  const [, name, newName] = ctx.args as [string, string, string]
  const client = await ctx.connect()
  await client.images.rename(name, newName).catch((err: unknown) => { throw new CliError(`Could not rename image: ${describeError(err)}`) })
  return 0
}

/** The clone's bar: the source's size against what has reached the pool under the clone's temporary name. */
async function cloneProgress(ctx: VerbContext, client: MachinedClient, name: string, newName: string): Promise<() => void> {
  if (ctx.io.errTerminalColumns === undefined || ctx.options.quiet) return () => undefined
  const image = await client.images.get(name).catch(() => undefined)
  if (image === undefined) return () => undefined
  const pool = client.transport === 'dbus' ? await client.images.pool().then((p) => p.path, () => POOL) : POOL
  const temp = `${pool}/.#${newName}${image.type === 'raw' ? '.raw' : ''}`
  return startProgressBar(ctx, 'Cloning', { total: () => treeSize(image.path), done: async () => (await treeSize(temp)) ?? 0 })
}

export async function cloneImage(ctx: VerbContext): Promise<number> {
  const [, name, newName] = ctx.args as [string, string, string]
  const client = await ctx.connect()
  const stop = await cloneProgress(ctx, client, name, newName)
  try {
    await client.images.clone(name, newName, { readOnly: ctx.options.readOnly })
  } catch (err) {
    throw new CliError(`Could not clone image: ${describeError(err)}`)
  } finally {
    stop()
  }
  return 0
}

export async function markReadOnly(ctx: VerbContext): Promise<number> {
  const [, name, value] = ctx.args as [string, string, string | undefined]
  const readOnly = value === undefined ? true : parseBoolean(value)
  if (readOnly === undefined) throw new CliError(`Failed to parse boolean argument: ${value}`)
  const client = await ctx.connect()
  await client.images.markReadOnly(name, readOnly).catch((err: unknown) => { throw new CliError(`Could not mark image read-only: ${describeError(err)}`) })
  return 0
}

/** set-limit [NAME] BYTES: an image's limit, or the pool's with one argument. */
export async function setLimit(ctx: VerbContext): Promise<number> {
  const text = ctx.args.at(-1)!
  const limit = ['-', 'none', 'infinity'].includes(text) ? UINT64_MAX : parseSize(text)
  if (limit === undefined) throw new CliError(`Failed to parse size: ${text}`)
  const client = await ctx.connect()
  const set = ctx.args.length > 2 ? client.images.setLimit(ctx.args[1]!, limit) : client.images.setPoolLimit(limit)
  await set.catch((err: unknown) => { throw new CliError(`Could not set limit: ${describeError(err)}`) })
  return 0
}

/** clean [--all]: what was removed goes to stderr, as machinectl's log_info(). */
export async function cleanImages(ctx: VerbContext): Promise<number> {
  const client = await ctx.connect()
  const removed = await client.images.clean(ctx.options.all ? 'all' : 'hidden').catch((err: unknown) => { throw new CliError(`Could not clean pool: ${describeError(err)}`) })
  let total: bigint | undefined = 0n
  for (const r of removed) {
    const freed = formatBytes(r.usageExclusive)
    if (freed === undefined) {
      ctx.io.err(`Removed image '${r.name}'\n`)
      total = undefined
    } else {
      ctx.io.err(`Removed image '${r.name}'. Freed exclusive disk space: ${freed}\n`)
      if (total !== undefined) total += r.usageExclusive
    }
  }
  if (total === undefined) ctx.io.err(`Removed ${removed.length} images in total.\n`)
  else ctx.io.err(`Removed ${removed.length} images in total. Total freed exclusive disk space: ${formatBytes(total)}.\n`)
  return 0
}
