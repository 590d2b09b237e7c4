/**
 * The Manager's image methods and pool properties (the image half of
 * systemd's machined-dbus.c): GetImage, ListImages, the *Image(name, …)
 * methods (redirect_method_to_image(): the name is checked, the image
 * found, then the Image object's method runs on it), SetPoolLimit and
 * CleanPool; PoolPath, PoolUsage and PoolLimit.
 * @module
 */

import { imageObjectPath, UINT64_MAX } from '../../protocol/image.ts'
import { NoSuchImageError } from '../../protocol/errors.ts'
import { cleanPool, findImage, imageToChange, setPoolLimit } from '../../core/image-control.ts'
import { listImages, poolQuota } from '../../core/image-inspect.ts'
import type { IncomingCall } from '../../wire/dbus/bus.ts'
import { imageMethods as m, type ImageMethod } from './image.ts'
import type { DbusContext } from './machine.ts'
import { EMPTY_REPLY, type MethodHandler } from './object-tree.ts'

const str = (call: IncomingCall, i: number): string => call.body[i] as string

/**
 * Image object paths by name, remembered: a listing needs every image's
 * path each time, and escaping them is most of its cost after the file
 * system's. Names come from the file system; past this many the cache
 * starts over (useless then, never wrong).
 */
function pathCache(): (name: string) => string {
  const paths = new Map<string, string>()
  return (name) => {
    let path = paths.get(name)
    if (path === undefined) {
      if (paths.size >= 65_536) paths.clear()
      path = imageObjectPath(name)
      paths.set(name, path)
    }
    return path
  }
}

/** The handlers, by method name, for managerObject()'s table. */
export function managerImageMethods(ctx: DbusContext) {
  const { manager } = ctx
  const pathOf = pathCache()
  const byName = (method: ImageMethod): MethodHandler => async (call) => method(ctx, call, await imageToChange(manager, str(call, 0)), call.body.slice(1))
  return {
    // image_find() finds nothing for an invalid name: NoSuchImage, not InvalidArgs.
    GetImage: async (call) => {
      const image = await findImage(manager, str(call, 0))
      if (image === undefined) throw new NoSuchImageError(str(call, 0))
      return { signature: 'o', body: [imageObjectPath(image.name)] }
    },
    ListImages: async () => ({
      signature: 'a(ssbttto)',
      body: [(await listImages(manager)).map((i) => [i.name, i.type, i.readOnly, i.crtime, i.mtime, i.usage, pathOf(i.name)])],
    }),
    RemoveImage: byName(m.remove),
    RenameImage: byName(m.rename),
    CloneImage: byName(m.clone),
    MarkImageReadOnly: byName(m.markReadOnly),
    GetImageHostname: byName(m.hostname),
    GetImageMachineID: byName(m.machineId),
    GetImageMachineInfo: byName(m.machineInfo),
    GetImageOSRelease: byName(m.osRelease),
    SetImageLimit: byName(m.setLimit),
    SetPoolLimit: async (call) => {
      await setPoolLimit(manager, call.body[0] as bigint, await ctx.callerOf(call))
      return EMPTY_REPLY
    },
    CleanPool: async (call) => {
      const removed = await cleanPool(manager, str(call, 0), await ctx.callerOf(call))
      return { signature: 'a(st)', body: [removed.map((r) => [r.name, r.usageExclusive])] }
    },
  } satisfies Record<string, MethodHandler>
}

/** PoolPath, PoolUsage, PoolLimit: the quota is looked up before properties are read (prepare()). */
export function poolProperties(ctx: DbusContext): { prepare: () => Promise<void>; property: (name: string) => unknown } {
  let quota = { usage: UINT64_MAX, limit: UINT64_MAX }
  return {
    prepare: async () => { quota = await poolQuota(ctx.manager) },
    property: (name) => {
      switch (name) {
        case 'PoolPath': return ctx.manager.ports.images.poolPath
        case 'PoolUsage': return quota.usage
        case 'PoolLimit': return quota.limit
        default: return undefined
      }
    },
  }
}
