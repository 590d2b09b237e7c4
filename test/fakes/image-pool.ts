/**
 * The machine image pool, in memory (the ImagePool port): search
 * directories in order, each holding images by file name; locks as a
 * count of holders per image path; clones and renames move records.
 * Kept to LocalImagePool's behaviour by test/contract/image-pool.case.ts.
 * @module
 */

import { errnoFailure } from '../../src/protocol/errno.ts'
import { NotSupportedError } from '../../src/protocol/errors.ts'
import { HOST_IMAGE_NAME, imageNameIsValid, UINT64_MAX, type ImageMetadata } from '../../src/protocol/image.ts'
import type { Image, ImagePool } from '../../src/core/ports.ts'

export interface FakeImage {
  image: Image
  metadata: ImageMetadata
  /** Bytes in the tree, what scanUsage answers for directories. */
  bytes: bigint
}

/** The files that go with an image in its directory. */
const AUX = ['.nspawn', '.roothash']

interface FakeDir {
  readonly path: string
  readonly vendor: boolean
  readonly entries: Map<string, FakeImage>
}

export const NO_METADATA: ImageMetadata = { hostname: '', machineId: '', machineInfo: [], osRelease: [] }

export class FakeImagePool implements ImagePool {
  readonly poolPath: string
  measuresUsage = true
  /** Search directories in order; vendor ones are read-only. */
  readonly dirs: FakeDir[]
  /** Image paths with their lock holders: positive for shared holders, -1 for an exclusive one. */
  readonly locks = new Map<string, number>()
  /** Files in the runtime settings directory (NAME.nspawn). */
  readonly runSettings = new Set<string>()
  /** Files next to the images in the pool's directory that are no images (NAME.nspawn, NAME.roothash). */
  readonly poolFiles = new Set<string>()
  readonly host: Image = {
    name: HOST_IMAGE_NAME, path: '/', type: 'directory', vendor: false, readOnly: false, crtime: 0n, mtime: 0n,
    usage: UINT64_MAX, usageExclusive: UINT64_MAX, limit: UINT64_MAX, limitExclusive: UINT64_MAX,
  }
  /** What the next change (or metadata read) fails with, once. */
  failNext: Error | undefined
  #clock = 1_796_000_000_000_000n

  constructor(options: { dirs?: { path: string; vendor?: boolean }[] } = {}) {
    const dirs = options.dirs ?? [{ path: '/var/lib/machines' }, { path: '/usr/lib/machines', vendor: true }]
    this.dirs = dirs.map((d) => ({ path: d.path, vendor: d.vendor === true, entries: new Map() }))
    this.poolPath = this.dirs[0]!.path
  }

  /** Puts an image in search directory `dir` (0: the pool). */
  add(name: string, options: { type?: 'directory' | 'raw' | 'subvolume'; dir?: number; readOnly?: boolean; metadata?: Partial<ImageMetadata>; bytes?: bigint } = {}): FakeImage {
    const d = this.dirs[options.dir ?? 0]!
    const type = options.type ?? 'directory'
    const file = type === 'raw' ? `${name}.raw` : name
    const bytes = options.bytes ?? 4096n
    const raw = type === 'raw'
    const entry: FakeImage = {
      image: {
        name, path: `${d.path}/${file}`, type, vendor: d.vendor, readOnly: d.vendor || options.readOnly === true,
        crtime: this.#clock++, mtime: raw ? this.#clock : 0n,
        usage: raw ? bytes : UINT64_MAX, usageExclusive: raw ? bytes : UINT64_MAX, limit: raw ? bytes : UINT64_MAX, limitExclusive: raw ? bytes : UINT64_MAX,
      },
      metadata: { ...NO_METADATA, ...options.metadata },
      bytes,
    }
    d.entries.set(file, entry)
    return entry
  }

  /** Where image `name` lives, as find() sees it. */
  #lookup(name: string): { dir: FakeDir; file: string; entry: FakeImage } | undefined {
    if (!imageNameIsValid(name)) return undefined
    for (const dir of this.dirs) {
      for (const file of [name, `${name}.raw`]) {
        const entry = dir.entries.get(file)
        if (entry !== undefined) return { dir, file, entry }
      }
    }
    return undefined
  }

  #failed(): void {
    const err = this.failNext
    this.failNext = undefined
    if (err !== undefined) throw err
  }

  #checkLock(path: string, exclusive: boolean): void {
    const held = this.locks.get(path) ?? 0
    if (held < 0 || (exclusive && held > 0)) throw errnoFailure('EBUSY', '')
  }

  async discover(): Promise<Image[]> {
    const found = new Map<string, Image>()
    for (const dir of this.dirs) for (const e of dir.entries.values()) if (!found.has(e.image.name)) found.set(e.image.name, e.image)
    if (!found.has(HOST_IMAGE_NAME)) found.set(HOST_IMAGE_NAME, this.host)
    return [...found.values()]
  }

  async find(name: string): Promise<Image | undefined> {
    return this.#lookup(name)?.entry.image ?? (name === HOST_IMAGE_NAME ? this.host : undefined)
  }

  async remove(image: Image): Promise<void> {
    this.#failed()
    this.#checkLock(image.path, true)
    const at = this.#lookup(image.name)
    if (at === undefined) throw errnoFailure('ENOENT', '')
    at.dir.entries.delete(at.file)
    this.runSettings.delete(`${image.name}.nspawn`)
    for (const suffix of AUX) this.poolFiles.delete(`${image.name}${suffix}`)
  }

  async rename(image: Image, newName: string): Promise<void> {
    this.#failed()
    this.#checkLock(image.path, true)
    if (newName === HOST_IMAGE_NAME) throw errnoFailure('EBUSY', '')
    if ((await this.find(newName)) !== undefined) throw errnoFailure('EEXIST', '')
    const at = this.#lookup(image.name)
    if (at === undefined) throw errnoFailure('ENOENT', '')
    const file = image.type === 'raw' ? `${newName}.raw` : newName
    at.dir.entries.delete(at.file)
    at.dir.entries.set(file, { ...at.entry, image: { ...at.entry.image, name: newName, path: `${at.dir.path}/${file}` } })
    if (this.runSettings.delete(`${image.name}.nspawn`)) this.runSettings.add(`${newName}.nspawn`)
    for (const suffix of AUX) if (this.poolFiles.delete(`${image.name}${suffix}`)) this.poolFiles.add(`${newName}${suffix}`)
  }

  async clone(image: Image, newName: string, readOnly: boolean): Promise<void> {
    this.#failed()
    if (newName === HOST_IMAGE_NAME) throw errnoFailure('EBUSY', '')
    if ((await this.find(newName)) !== undefined) throw errnoFailure('EEXIST', '')
    if (image.type === 'block') throw errnoFailure('EOPNOTSUPP', '')
    const source = this.#lookup(image.name)?.entry
    const copy = this.add(newName, { type: image.type === 'raw' ? 'raw' : 'directory', readOnly, ...(source === undefined ? {} : { metadata: source.metadata, bytes: source.bytes }) })
    if (this.runSettings.has(`${image.name}.nspawn`)) this.runSettings.add(`${newName}.nspawn`)
    for (const suffix of AUX) if (this.poolFiles.has(`${image.name}${suffix}`)) this.poolFiles.add(`${newName}${suffix}`)
    copy.bytes = source?.bytes ?? copy.bytes
  }

  async setReadOnly(image: Image, readOnly: boolean): Promise<void> {
    this.#failed()
    this.#checkLock(image.path, true)
    const at = this.#lookup(image.name)
    if (at !== undefined) at.entry.image = { ...at.entry.image, readOnly }
  }

  async setLimit(): Promise<void> {
    throw new NotSupportedError('Quota is not enabled')
  }

  async setPoolLimit(): Promise<void> {
    throw new NotSupportedError('Quota is only supported on btrfs.')
  }

  async poolQuota(): Promise<{ usage: bigint; limit: bigint }> {
    return { usage: UINT64_MAX, limit: UINT64_MAX }
  }

  async metadata(image: Image): Promise<ImageMetadata> {
    this.#failed()
    this.#checkLock(image.path, false)
    return this.#lookup(image.name)?.entry.metadata ?? NO_METADATA
  }

  async scanUsage(image: Image): Promise<bigint> {
    return this.#lookup(image.name)?.entry.bytes ?? UINT64_MAX
  }
}
