/**
 * The image pool over D-Bus: the Manager's image methods and the Image
 * objects' properties, the calls machinectl makes.
 * @module
 */

import { IMAGE_INTERFACE_NAME } from '../protocol/dbus/org.freedesktop.machine1.ts'
import { imageTypeFromString, type ImageRecord } from '../protocol/image.ts'
import type { CleanedImage, ImageClient, ImageInside, PoolInfo } from './image-types.ts'
import { idHex } from './values.ts'

/** A Manager call (or one on another path and interface), errors already the daemon's. */
export type ManagerCall = (member: string, signature: string, body: readonly unknown[], options?: { path?: string; iface?: string }) => Promise<unknown[]>

const PROPERTIES = 'org.freedesktop.DBus.Properties'

export class DbusImageClient implements ImageClient {
  readonly #call: ManagerCall

  constructor(call: ManagerCall) {
    this.#call = call
  }

  async list(): Promise<ImageRecord[]> {
    const [rows] = await this.#call('ListImages', '', [])
    return (rows as [string, string, boolean, bigint, bigint, bigint, string][]).map(([name, type, readOnly, crtime, mtime, usage]) => ({
      name, path: '', type: imageTypeFromString(type) ?? 'directory', readOnly, crtime, mtime, usage,
      usageExclusive: usage, limit: 0xffff_ffff_ffff_ffffn, limitExclusive: 0xffff_ffff_ffff_ffffn,
    }))
  }

  /** GetImage: the image's object path. */
  async path(name: string): Promise<string> {
    const [path] = await this.#call('GetImage', 's', [name])
    return path as string
  }

  async get(name: string): Promise<ImageRecord> {
    const [props] = await this.#call('GetAll', 's', [IMAGE_INTERFACE_NAME], { path: await this.path(name), iface: PROPERTIES })
    const p = props as Record<string, { value: unknown } | undefined>
    const v = <T>(key: string, fallback: T): T => (p[key]?.value as T | undefined) ?? fallback
    return {
      name: v('Name', name), path: v('Path', ''), type: imageTypeFromString(v('Type', '')) ?? 'directory', readOnly: v('ReadOnly', false),
      crtime: v('CreationTimestamp', 0n), mtime: v('ModificationTimestamp', 0n), usage: v('Usage', 0n), usageExclusive: v('UsageExclusive', 0n),
      limit: v('Limit', 0n), limitExclusive: v('LimitExclusive', 0n),
    }
  }

  async hostname(name: string): Promise<string> {
    return (await this.#call('GetImageHostname', 's', [name]))[0] as string
  }

  async machineId(name: string): Promise<string> {
    return idHex((await this.#call('GetImageMachineID', 's', [name]))[0] as Uint8Array)
  }

  async machineInfo(name: string): Promise<Record<string, string>> {
    return (await this.#call('GetImageMachineInfo', 's', [name]))[0] as Record<string, string>
  }

  async osRelease(name: string): Promise<Record<string, string>> {
    return (await this.#call('GetImageOSRelease', 's', [name]))[0] as Record<string, string>
  }

  async inside(name: string): Promise<ImageInside> {
    const [hostname, machineId, machineInfo, osRelease] = await Promise.all([this.hostname(name), this.machineId(name), this.machineInfo(name), this.osRelease(name)])
    return { hostname, machineId, machineInfo, osRelease }
  }

  async remove(name: string): Promise<void> {
    await this.#call('RemoveImage', 's', [name])
  }

  async rename(name: string, newName: string): Promise<void> {
    await this.#call('RenameImage', 'ss', [name, newName])
  }

  async clone(name: string, newName: string, options: { readOnly?: boolean } = {}): Promise<void> {
    await this.#call('CloneImage', 'ssb', [name, newName, options.readOnly === true])
  }

  async markReadOnly(name: string, readOnly: boolean): Promise<void> {
    await this.#call('MarkImageReadOnly', 'sb', [name, readOnly])
  }

  async setLimit(name: string, limit: bigint): Promise<void> {
    await this.#call('SetImageLimit', 'st', [name, limit])
  }

  async setPoolLimit(limit: bigint): Promise<void> {
    await this.#call('SetPoolLimit', 't', [limit])
  }

  async clean(mode: 'hidden' | 'all'): Promise<CleanedImage[]> {
    const [rows] = await this.#call('CleanPool', 's', [mode])
    return (rows as [string, bigint][]).map(([name, usageExclusive]) => ({ name, usageExclusive }))
  }

  async pool(): Promise<PoolInfo> {
    const [props] = await this.#call('GetAll', 's', ['org.freedesktop.machine1.Manager'], { iface: PROPERTIES })
    const p = props as Record<string, { value: unknown } | undefined>
    return { path: (p.PoolPath?.value as string | undefined) ?? '', usage: (p.PoolUsage?.value as bigint | undefined) ?? 0n, limit: (p.PoolLimit?.value as bigint | undefined) ?? 0n }
  }
}
