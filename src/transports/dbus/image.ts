/**
 * org.freedesktop.machine1.Image objects (systemd's image-dbus.c), and the
 * per-image methods the Manager's *Image(name, …) methods share with them:
 * each takes the image already found (by object path, or by name on the
 * Manager), decodes, calls the core (which authorises) and encodes.
 * @module
 */

import { IMAGE_INTERFACE, type MethodName } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import type { Image } from '../../core/ports.ts'
import { cloneImage, markImageReadOnly, removeImage, renameImage, setImageLimit } from '../../core/image-control.ts'
import { imageMetadata, imageWithUsage } from '../../core/image-inspect.ts'
import type { IncomingCall } from '../../wire/dbus/bus.ts'
import type { DbusContext } from './machine.ts'
import { EMPTY_REPLY, type MethodHandler, type ObjectInterface, type Reply } from './object-tree.ts'

/** One per-image method (bus_image_method_*()): `args` are the call's arguments after the image's name (all of them on an Image object). */
export type ImageMethod = (ctx: DbusContext, call: IncomingCall, image: Image, args: readonly unknown[]) => Promise<Reply>

/** a{ss} from key/value pairs (bus_reply_pair_array()). */
function pairs(list: readonly (readonly [string, string])[]): Reply {
  return { signature: 'a{ss}', body: [Object.fromEntries(list)] }
}

/** 32 hex digits as 16 bytes; none as an empty array (as systemd sends a null ID). */
function idBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)?.map((b) => parseInt(b, 16)) ?? [])
}

export const imageMethods = {
  remove: async (ctx, call, image) => {
    await removeImage(ctx.manager, image, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** Rename(new_name). */
  rename: async (ctx, call, image, args) => {
    await renameImage(ctx.manager, image, args[0] as string, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** Clone(new_name, read_only). */
  clone: async (ctx, call, image, args) => {
    await cloneImage(ctx.manager, image, args[0] as string, args[1] as boolean, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** MarkReadOnly(read_only). */
  markReadOnly: async (ctx, call, image, args) => {
    await markImageReadOnly(ctx.manager, image, args[0] as boolean, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** SetLimit(limit). */
  setLimit: async (ctx, call, image, args) => {
    await setImageLimit(ctx.manager, image, args[0] as bigint, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  hostname: async (ctx, _call, image) => ({ signature: 's', body: [(await imageMetadata(ctx.manager, image)).hostname] }),
  machineId: async (ctx, _call, image) => ({ signature: 'ay', body: [idBytes((await imageMetadata(ctx.manager, image)).machineId)] }),
  machineInfo: async (ctx, _call, image) => pairs((await imageMetadata(ctx.manager, image)).machineInfo),
  osRelease: async (ctx, _call, image) => pairs((await imageMetadata(ctx.manager, image)).osRelease),
} satisfies Record<string, ImageMethod>

/** The Image interface's properties of `image`. */
export function imageProperties(image: Image): (name: string) => unknown {
  return (name) => {
    switch (name) {
      case 'Name': return image.name
      case 'Path': return image.path
      case 'Type': return image.type
      case 'ReadOnly': return image.readOnly
      case 'CreationTimestamp': return image.crtime
      case 'ModificationTimestamp': return image.mtime
      case 'Usage': return image.usage
      case 'Limit': return image.limit
      case 'UsageExclusive': return image.usageExclusive
      case 'LimitExclusive': return image.limitExclusive
      default: return undefined
    }
  }
}

/**
 * The object at /org/freedesktop/machine1/image/NAME. Its properties are
 * read only once the image's usage is known (prepare(): a tree is measured
 * then, as an operation).
 */
export function imageObject(ctx: DbusContext, image: Image): ObjectInterface {
  let current = image
  const on = (method: ImageMethod): MethodHandler => (call) => method(ctx, call, image, call.body)
  const m = imageMethods
  return {
    description: IMAGE_INTERFACE,
    prepare: async () => { current = await imageWithUsage(ctx.manager, image) },
    property: (name) => imageProperties(current)(name),
    methods: {
      Remove: on(m.remove),
      Rename: on(m.rename),
      Clone: on(m.clone),
      MarkReadOnly: on(m.markReadOnly),
      SetLimit: on(m.setLimit),
      GetHostname: on(m.hostname),
      GetMachineID: on(m.machineId),
      GetMachineInfo: on(m.machineInfo),
      GetOSRelease: on(m.osRelease),
    } satisfies Record<MethodName<typeof IMAGE_INTERFACE>, MethodHandler>,
  }
}
