/**
 * `image-status [NAME…]` and `show-image [NAME…]`: show_image() of
 * machinectl.c. Without a name, image-status shows the pool and show-image
 * the Manager's properties. Images are looked up one after the other; an
 * unknown name ends the run with "Could not get path to image: …". A blank
 * line separates images. Over D-Bus the properties are the Image object's;
 * Varlink has none, so they are rebuilt from io.systemd.MachineImage.List.
 * @module
 */

import type { ImageInside, ImageRecord } from '../../client/image-types.ts'
import type { MachinedClient } from '../../client/types.ts'
import { UINT64_MAX } from '../../protocol/image.ts'
import { dbusOf } from '../connection.ts'
import { CliError, describeError } from '../errors.ts'
import { managerProperties } from '../machine-properties.ts'
import { formatBytes } from '../output/bytes.ts'
import { formatProperties, type TypedProperty } from '../output/properties.ts'
import { formatTimestamp, formatTimestampRelative, timestampIsSet } from '../output/timestamp.ts'
import type { VerbContext } from '../verb.ts'

/** What was found inside an image: each part undefined when its call failed. */
type ImageParts = { readonly [K in keyof ImageInside]?: ImageInside[K] | undefined }

/** The image's properties in the order its object lists them. */
function imageProperties(i: ImageRecord): TypedProperty[] {
  const t = (name: string, value: bigint): TypedProperty => ({ name, signature: 't', value })
  return [
    { name: 'Name', signature: 's', value: i.name },
    { name: 'Path', signature: 's', value: i.path },
    { name: 'Type', signature: 's', value: i.type },
    { name: 'ReadOnly', signature: 'b', value: i.readOnly },
    t('CreationTimestamp', i.crtime), t('ModificationTimestamp', i.mtime),
    t('Usage', i.usage), t('Limit', i.limit), t('UsageExclusive', i.usageExclusive), t('LimitExclusive', i.limitExclusive),
  ]
}

/** "X" or "X (exclusive: Y)", as print_image_status_info() words usage and limits. */
function sizes(all: bigint, exclusive: bigint): string {
  const whole = formatBytes(all)!
  return exclusive !== all && exclusive !== UINT64_MAX ? `${whole} (exclusive: ${formatBytes(exclusive)!})` : whole
}

/** print_image_status_info(). */
export function formatImageStatus(i: ImageRecord, inside: ImageParts, now?: bigint): string {
  let out = `${i.name}\n\t    Type: ${i.type}\n\t    Path: ${i.path}\n`
  if (inside.hostname !== undefined && inside.hostname !== '') out += `\tHostname: ${inside.hostname}\n`
  if (inside.machineId !== undefined && inside.machineId !== '') out += `      Machine ID: ${inside.machineId}\n`
  const deployment = inside.machineInfo?.DEPLOYMENT
  if (deployment !== undefined) out += `      Deployment: ${deployment}\n`
  const pretty = inside.osRelease?.PRETTY_NAME
  if (pretty !== undefined) out += `\t      OS: ${pretty}\n`
  out += `\t      RO: ${i.readOnly ? 'read-only' : 'writable'}\n`
  if (timestampIsSet(i.crtime)) out += `\t Created: ${formatTimestamp(i.crtime)!}; ${formatTimestampRelative(i.crtime, now)!}\n`
  if (timestampIsSet(i.mtime)) out += `\tModified: ${formatTimestamp(i.mtime)!}; ${formatTimestampRelative(i.mtime, now)!}\n`
  if (i.usage !== UINT64_MAX) out += `\t   Usage: ${sizes(i.usage, i.usageExclusive)}\n`
  if (i.limit !== UINT64_MAX) out += `\t   Limit: ${sizes(i.limit, i.limitExclusive)}\n`
  return out
}

/** What the image holds, each part as machinectl asks for it (one failing call leaves only its line out). */
async function inside(client: MachinedClient, name: string): Promise<ImageParts> {
  const dbus = dbusOf(client)
  if (dbus === undefined) return client.images.inside(name).catch(() => ({}))
  const images = dbus.images
  const [hostname, machineId, machineInfo, osRelease] = await Promise.allSettled([images.hostname(name), images.machineId(name), images.machineInfo(name), images.osRelease(name)])
  const value = <T>(r: PromiseSettledResult<T>): T | undefined => (r.status === 'fulfilled' ? r.value : undefined)
  return { hostname: value(hostname), machineId: value(machineId), machineInfo: value(machineInfo), osRelease: value(osRelease) }
}

/** The record the Image object's properties describe (bus_map_all_properties() of show_image_info()). */
function recordOf(list: readonly TypedProperty[]): ImageRecord {
  const p = new Map(list.map((x) => [x.name, x.value]))
  const t = (name: string): bigint => (p.get(name) as bigint | undefined) ?? 0n
  return {
    name: (p.get('Name') as string | undefined) ?? '', path: (p.get('Path') as string | undefined) ?? '',
    type: (p.get('Type') as ImageRecord['type'] | undefined) ?? 'directory', readOnly: p.get('ReadOnly') === true,
    crtime: t('CreationTimestamp'), mtime: t('ModificationTimestamp'), usage: t('Usage'), usageExclusive: t('UsageExclusive'),
    limit: t('Limit'), limitExclusive: t('LimitExclusive'),
  }
}

/** GetImage, then (when called) the image's properties: the Image object's, or over Varlink rebuilt from its List record. */
async function lookUp(client: MachinedClient, name: string): Promise<() => Promise<TypedProperty[]>> {
  const fail = (err: unknown): never => { throw new CliError(`Could not get path to image: ${describeError(err)}`) }
  const dbus = dbusOf(client)
  if (dbus !== undefined) {
    const path = await dbus.images.path(name).catch(fail)
    return () => dbus.propertyList(path)
  }
  const record = await client.images.get(name).catch(fail)
  return async () => imageProperties(record)
}

export async function showImage(ctx: VerbContext): Promise<number> {
  const { args, options, io } = ctx
  const properties = !args[0]!.includes('status')
  const client = await ctx.connect()
  let newLine = false
  let code = 0
  const separate = (): void => {
    if (newLine) io.out('\n')
    newLine = true
  }
  if (args.length <= 1) {
    if (properties) {
      separate()
      io.out(formatProperties(await managerProperties(client), options.properties, { showEmpty: options.showEmpty, onlyValue: options.onlyValue }))
    } else {
      const pool = await client.images.pool().catch((err: unknown) => { throw new CliError(`Could not get properties: ${describeError(err)}`) })
      io.out(`\t    Path: ${pool.path}\n`)
      if (pool.usage !== UINT64_MAX) io.out(`\t   Usage: ${formatBytes(pool.usage)!}\n`)
      if (pool.limit !== UINT64_MAX) io.out(`\t   Limit: ${formatBytes(pool.limit)!}\n`)
    }
  }
  for (const name of args.slice(1)) {
    const read = await lookUp(client, name)
    let found: TypedProperty[]
    try {
      found = await read()
    } catch (err) {
      io.err(`Could not get properties: ${describeError(err)}\n`)
      code = 1
      continue
    }
    code = 0
    separate()
    if (properties) io.out(formatProperties(found, options.properties, { showEmpty: options.showEmpty, onlyValue: options.onlyValue }))
    else io.out(formatImageStatus(recordOf(found), await inside(client, name)))
  }
  return code
}
