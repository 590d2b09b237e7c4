/**
 * io.systemd.MachineImage on the Varlink server (newest systemd's
 * image-varlink.c and machined-varlink.c's List): each method checks its
 * parameters in systemd's order, finds the image, calls the same core the
 * D-Bus objects use (which authorises) and encodes the answer. Errors are
 * mapped in errors.ts, except the names of this interface's own errors
 * (NoSuchImage is the table's; TooManyOperations and, for SetPoolLimit,
 * NotSupported are io.systemd.MachineImage's here) and Update's
 * "not supported", which systemd answers with the bare errno.
 * @module
 */

import type { Caller } from '../../core/authorization.ts'
import { cleanPool, cloneImage, findImage, markImageReadOnly, removeImage, renameImage, setImageLimit, setPoolLimit } from '../../core/image-control.ts'
import { imageMetadata, imageWithUsage, listImages } from '../../core/image-inspect.ts'
import type { Manager } from '../../core/manager.ts'
import type { Image } from '../../core/ports.ts'
import { MachinedError } from '../../protocol/errors.ts'
import { imageNameIsValid, UINT64_MAX } from '../../protocol/image.ts'
import type { MethodName } from '../../protocol/varlink/idl.ts'
import { MACHINE_IMAGE_ERRORS, MACHINE_IMAGE_INTERFACE } from '../../protocol/varlink/io.systemd.MachineImage.ts'
import { SERVICE_ERRORS } from '../../protocol/varlink/org.varlink.service.ts'
import { invalidParameter, systemError, VarlinkError } from './errors.ts'
import type { InterfaceBinding, MethodHandler, VarlinkCall } from './server.ts'

type AcquireMetadata = 'no' | 'yes' | 'graceful'

function callerOf(call: VarlinkCall): Caller {
  return { uid: call.peer.uid, pid: call.peer.pid }
}

/** A JSON number as the uint64 sd_json_dispatch_uint64() reads; 2⁶⁴ (what UINT64_MAX becomes in a double) is UINT64_MAX. */
function uint64(value: unknown): bigint | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) return undefined
  return value >= 2 ** 64 - 2048 ? UINT64_MAX : BigInt(value)
}

function unsignedField(key: string, v: bigint, none: bigint): Record<string, number> {
  return v === none ? {} : { [key]: Number(v) }
}

const envPairs = (list: readonly (readonly [string, string])[]): string[] => list.map(([k, v]) => `${k}=${v}`)

/** list_image_one_and_maybe_read_metadata(): fields in systemd's order, empty and unknown ones left out. */
async function encodeImage(manager: Manager, image: Image, mode: AcquireMetadata): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    name: image.name,
    ...(image.path === '' ? {} : { path: image.path }),
    type: image.type,
    class: 'machine',
    readOnly: image.readOnly,
    ...unsignedField('creationTimestamp', image.crtime, 0n),
    ...unsignedField('modificationTimestamp', image.mtime, 0n),
    ...unsignedField('usage', image.usage, UINT64_MAX),
    ...unsignedField('usageExclusive', image.usageExclusive, UINT64_MAX),
    ...unsignedField('limit', image.limit, UINT64_MAX),
    ...unsignedField('limitExclusive', image.limitExclusive, UINT64_MAX),
  }
  if (mode === 'no') return out
  const metadata = await imageMetadata(manager, image).catch((err: unknown) => {
    if (mode === 'graceful') return undefined
    throw err
  })
  if (metadata === undefined) return out
  if (metadata.hostname !== '') out.hostname = metadata.hostname
  if (metadata.machineId !== '') out.machineId = metadata.machineId
  if (metadata.machineInfo.length > 0) out.machineInfo = envPairs(metadata.machineInfo)
  if (metadata.osRelease.length > 0) out.OSRelease = envPairs(metadata.osRelease)
  return out
}

/** Rethrows the core's error for `code` as the Varlink error `error`. */
function renaming<T>(renames: Partial<Record<MachinedError['code'], () => VarlinkError>>, work: () => Promise<T>): Promise<T> {
  return work().catch((err: unknown) => {
    const rename = err instanceof MachinedError ? renames[err.code] : undefined
    throw rename === undefined ? err : rename()
  })
}

const tooMany = (): VarlinkError => new VarlinkError(MACHINE_IMAGE_ERRORS.TOO_MANY_OPERATIONS)
const noSuchImage = (): VarlinkError => new VarlinkError(MACHINE_IMAGE_ERRORS.NO_SUCH_IMAGE)
/** EOPNOTSUPP as sd_varlink_error_errno() sends it. */
const notSupportedErrno = (): VarlinkError => systemError('EOPNOTSUPP', 95)

export function machineImageBinding(options: { readonly manager: Manager }): InterfaceBinding {
  const { manager } = options

  /** The image `name` names: InvalidParameter for an invalid name, NoSuchImage for none. */
  const lookUp = async (name: string): Promise<Image> => {
    if (!imageNameIsValid(name)) throw invalidParameter('name')
    const image = await findImage(manager, name)
    if (image === undefined) throw noSuchImage()
    return image
  }
  const checkOperations = (): void => {
    if (manager.operationsFull) throw tooMany()
  }

  const handlers = {
    List: async (call) => {
      const p = call.parameters
      const mode = (p.acquireMetadata as AcquireMetadata | null | undefined) ?? 'no'
      if (typeof p.name === 'string') return encodeImage(manager, await imageWithUsage(manager, await lookUp(p.name)), mode)
      if (!call.more) throw new VarlinkError(SERVICE_ERRORS.EXPECTED_MORE)
      const images = await listImages(manager)
      if (images.length === 0) throw noSuchImage()
      for (const image of images.slice(0, -1)) call.notify(await encodeImage(manager, image, mode))
      return encodeImage(manager, images.at(-1)!, mode)
    },
    Update: async (call) => {
      const p = call.parameters
      const newName = p.newName as string | null | undefined
      const readOnly = p.readOnly as boolean | null | undefined
      const limit = p.limit === undefined || p.limit === null ? undefined : uint64(p.limit)
      if (p.limit !== undefined && p.limit !== null && limit === undefined) throw invalidParameter('limit')
      if (!imageNameIsValid(p.name as string)) throw invalidParameter('name')
      if (typeof newName === 'string' && !imageNameIsValid(newName)) throw invalidParameter('newName')
      const image = await lookUp(p.name as string)
      const caller = callerOf(call)
      if (typeof newName === 'string') await renameImage(manager, image, newName, caller)
      // Read-only and limit are both tried; the first failure is the answer (RET_GATHER()).
      let failure: { readonly error: unknown } | undefined
      const attempt = (work: () => Promise<void>): Promise<void> => renaming({ NOT_SUPPORTED: notSupportedErrno }, work).catch((error: unknown) => { failure ??= { error } })
      const current = typeof newName === 'string' ? (await findImage(manager, newName)) ?? image : image
      if (typeof readOnly === 'boolean') await attempt(() => markImageReadOnly(manager, current, readOnly, caller))
      if (limit !== undefined && limit !== UINT64_MAX) await attempt(() => setImageLimit(manager, current, limit, caller))
      if (failure !== undefined) throw failure.error
      return {}
    },
    Clone: async (call) => {
      checkOperations()
      const p = call.parameters
      if (!imageNameIsValid(p.name as string)) throw invalidParameter('name')
      if (!imageNameIsValid(p.newName as string)) throw invalidParameter('newName')
      const image = await lookUp(p.name as string)
      await renaming({ TOO_MANY_OPERATIONS: tooMany }, () => cloneImage(manager, image, p.newName as string, p.readOnly === true, callerOf(call)))
      return {}
    },
    Remove: async (call) => {
      checkOperations()
      const image = await lookUp(call.parameters.name as string)
      await renaming({ TOO_MANY_OPERATIONS: tooMany }, () => removeImage(manager, image, callerOf(call)))
      return {}
    },
    SetPoolLimit: async (call) => {
      const limit = uint64(call.parameters.limit)
      if (limit === undefined) throw invalidParameter('limit')
      await renaming({ NOT_SUPPORTED: () => new VarlinkError(MACHINE_IMAGE_ERRORS.NOT_SUPPORTED) }, () => setPoolLimit(manager, limit, callerOf(call)))
      return {}
    },
    CleanPool: async (call) => {
      checkOperations()
      const removed = await renaming({ TOO_MANY_OPERATIONS: tooMany }, () => cleanPool(manager, call.parameters.mode as string, callerOf(call)))
      if (removed.length === 0) throw noSuchImage()
      const encode = (r: { name: string; usageExclusive: bigint }): Record<string, unknown> => ({ name: r.name, ...unsignedField('usageExclusive', r.usageExclusive, UINT64_MAX) })
      for (const r of removed.slice(0, -1)) call.notify(encode(r))
      return encode(removed.at(-1)!)
    },
  } satisfies Record<MethodName<typeof MACHINE_IMAGE_INTERFACE>, MethodHandler>

  return { description: MACHINE_IMAGE_INTERFACE, handlers }
}
