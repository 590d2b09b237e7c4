/**
 * The image pool over Varlink: io.systemd.MachineImage, which newer
 * systemd serves on the io.systemd.Machine socket too. Varlink errors
 * carry no text: they are worded as the D-Bus replies word them.
 * @module
 */

import { errorFromCode, NotSupportedError, type ErrorCode } from '../protocol/errors.ts'
import { imageTypeFromString, UINT64_MAX, type ImageRecord } from '../protocol/image.ts'
import { MACHINE_IMAGE_INTERFACE_NAME } from '../protocol/varlink/io.systemd.MachineImage.ts'
import { fromVarlinkError } from './errors.ts'
import type { CleanedImage, ImageClient, ImageInside, PoolInfo } from './image-types.ts'
import { VarlinkReplyError, type VarlinkConnection } from './varlink-connection.ts'

interface Record_ {
  name: string
  path?: string
  type: string
  readOnly: boolean
  creationTimestamp?: number
  modificationTimestamp?: number
  usage?: number
  usageExclusive?: number
  limit?: number
  limitExclusive?: number
  hostname?: string
  machineId?: string
  machineInfo?: string[]
  OSRelease?: string[]
}

const size = (n: number | undefined): bigint => (n === undefined ? UINT64_MAX : BigInt(n))

function fromWire(r: Record_): ImageRecord {
  return {
    name: r.name, path: r.path ?? '', type: imageTypeFromString(r.type) ?? 'directory', readOnly: r.readOnly,
    crtime: BigInt(r.creationTimestamp ?? 0), mtime: BigInt(r.modificationTimestamp ?? 0),
    usage: size(r.usage), usageExclusive: size(r.usageExclusive), limit: size(r.limit), limitExclusive: size(r.limitExclusive),
  }
}

function pairs(lines: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of lines ?? []) {
    const eq = line.indexOf('=')
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return out
}

/** The text of the D-Bus reply for the same failure. */
function describer(name: string | undefined, newName?: string): (code: ErrorCode) => string {
  return (code) => {
    switch (code) {
      case 'NO_SUCH_IMAGE': return `No image '${name ?? ''}' known`
      case 'INVALID_ARGS': return `Image name '${newName ?? name ?? ''}' is invalid.`
      case 'BUSY': return 'Device or resource busy'
      case 'READ_ONLY_FILE_SYSTEM': return 'Read-only file system'
      case 'FILE_EXISTS': return 'File exists'
      case 'NOT_SUPPORTED': return 'Operation not supported'
      case 'ACCESS_DENIED': return 'Permission denied'
      case 'TOO_MANY_OPERATIONS': return 'Too many ongoing operations.'
      default: return code
    }
  }
}

export class VarlinkImageClient implements ImageClient {
  readonly #conn: VarlinkConnection

  constructor(conn: VarlinkConnection) {
    this.#conn = conn
  }

  async #call(method: string, parameters: Record<string, unknown>, names: { name?: string; newName?: string } = {}): Promise<Record<string, unknown>> {
    try {
      return await this.#conn.call(`${MACHINE_IMAGE_INTERFACE_NAME}.${method}`, parameters)
    } catch (err) {
      if (err instanceof VarlinkReplyError) {
        // InvalidParameter names the field; say what D-Bus says about it.
        if (err.error === 'org.varlink.service.InvalidParameter' && (err.parameters.parameter === 'name' || err.parameters.parameter === 'newName')) {
          throw errorFromCode('INVALID_ARGS', describer(names.name, err.parameters.parameter === 'newName' ? names.newName : names.name)('INVALID_ARGS'))
        }
        throw fromVarlinkError(err.error, err.parameters, describer(names.name, names.newName))
      }
      throw err
    }
  }

  async list(): Promise<ImageRecord[]> {
    const replies = await this.#conn.callMore(`${MACHINE_IMAGE_INTERFACE_NAME}.List`, {}).catch((err: unknown) => {
      if (err instanceof VarlinkReplyError) throw fromVarlinkError(err.error, err.parameters, describer(undefined))
      throw err
    })
    return (replies as unknown as Record_[]).map(fromWire)
  }

  async get(name: string): Promise<ImageRecord> {
    return fromWire((await this.#call('List', { name }, { name })) as unknown as Record_)
  }

  async inside(name: string): Promise<ImageInside> {
    const r = (await this.#call('List', { name, acquireMetadata: 'yes' }, { name })) as unknown as Record_
    return { hostname: r.hostname ?? '', machineId: r.machineId ?? '', machineInfo: pairs(r.machineInfo), osRelease: pairs(r.OSRelease) }
  }

  async remove(name: string): Promise<void> {
    await this.#call('Remove', { name }, { name })
  }

  async rename(name: string, newName: string): Promise<void> {
    await this.#call('Update', { name, newName }, { name, newName })
  }

  async clone(name: string, newName: string, options: { readOnly?: boolean } = {}): Promise<void> {
    await this.#call('Clone', { name, newName, readOnly: options.readOnly === true }, { name, newName })
  }

  async markReadOnly(name: string, readOnly: boolean): Promise<void> {
    await this.#call('Update', { name, readOnly }, { name })
  }

  async setLimit(name: string, limit: bigint): Promise<void> {
    await this.#call('Update', { name, limit: Number(limit) }, { name })
  }

  async setPoolLimit(limit: bigint): Promise<void> {
    await this.#call('SetPoolLimit', { limit: Number(limit) })
  }

  async clean(mode: 'hidden' | 'all'): Promise<CleanedImage[]> {
    try {
      const replies = await this.#conn.callMore(`${MACHINE_IMAGE_INTERFACE_NAME}.CleanPool`, { mode })
      return (replies as unknown as { name: string; usageExclusive?: number }[]).map((r) => ({ name: r.name, usageExclusive: size(r.usageExclusive) }))
    } catch (err) {
      // systemd answers "nothing removed" with NoSuchImage.
      if (err instanceof VarlinkReplyError && err.error === 'io.systemd.MachineImage.NoSuchImage') return []
      if (err instanceof VarlinkReplyError) throw fromVarlinkError(err.error, err.parameters, describer(undefined))
      throw err
    }
  }

  async pool(): Promise<PoolInfo> {
    throw new NotSupportedError('The pool\'s path and quota are not available over Varlink.')
  }
}
