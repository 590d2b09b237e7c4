/**
 * Disk usage of images whose file system reports none: plain directories,
 * and btrfs subvolumes without quota (systemd-machined reports
 * UINT64_MAX for them; `machinectl list-images` shows nothing). Measuring
 * a tree means walking it, so it runs as an operation under the shared
 * limit, never on the daemon's loop, and its result is kept for a while:
 * a list shows the last measurement (and starts a new one in the
 * background when it is old or missing, a few at a time, only while the
 * operation limit has room); one image's status waits briefly for a fresh
 * one.
 * @module
 */

import { UINT64_MAX } from '../protocol/image.ts'
import type { Clock, Image, Log } from './ports.ts'

/** How long a measurement stands. */
export const USAGE_TTL_USEC = 60_000_000n
/** Measurements under way at once in the background (lists); waited-for ones are not counted. */
export const BACKGROUND_SCANS = 2

export interface ImageUsageOptions {
  /** Whether trees are measured at all (ImagePool.measuresUsage). */
  readonly enabled: boolean
  /** Measures one tree (ImagePool.scanUsage). */
  readonly scan: (image: Image) => Promise<bigint>
  /** Runs work as an operation (Manager.runOperation). */
  readonly run: <T>(work: () => Promise<T>) => Promise<T>
  /** Whether an operation may start now (background scans never take the last places). */
  readonly hasRoom: () => boolean
  readonly clock: Clock
  readonly log: Log
}

interface Measured {
  readonly usage: bigint
  readonly at: bigint
}

/** The types whose usage comes from walking the tree when the file system says nothing. */
function measurable(image: Image, enabled: boolean): boolean {
  return enabled && (image.type === 'directory' || image.type === 'subvolume') && image.usage === UINT64_MAX && image.path !== '/'
}

/** One measurement per tree: the path, and the creation time that tells a new image at the same path from the old. */
function keyOf(image: Image): string {
  return `${image.path}\0${image.crtime}`
}

export class ImageUsage {
  readonly #options: ImageUsageOptions
  readonly #measured = new Map<string, Measured>()
  readonly #running = new Map<string, Promise<bigint>>()
  readonly #queue = new Map<string, Image>()
  #background = 0

  constructor(options: ImageUsageOptions) {
    this.#options = options
  }

  /** The image with its usage filled in from the last measurement (UINT64_MAX when there is none yet); stale or missing ones are queued. */
  current(image: Image): Image {
    if (!measurable(image, this.#options.enabled)) return image
    const key = keyOf(image)
    const known = this.#measured.get(key)
    if (known === undefined || this.#stale(known)) this.#enqueue(key, image)
    return known === undefined ? image : { ...image, usage: known.usage, usageExclusive: known.usage }
  }

  /** The image with a fresh measurement, waiting for it at most `waitMs`; the last known value (or none) after that. */
  async measured(image: Image, waitMs: number): Promise<Image> {
    if (!measurable(image, this.#options.enabled)) return image
    const key = keyOf(image)
    const known = this.#measured.get(key)
    if (known !== undefined && !this.#stale(known)) return { ...image, usage: known.usage, usageExclusive: known.usage }
    let timer: { dispose(): void } | undefined
    const timeout = new Promise<undefined>((resolve) => { timer = this.#options.clock.setTimeout(() => resolve(undefined), waitMs) })
    const scan = this.#start(key, image).catch(() => undefined)
    const usage = await Promise.race([scan, timeout])
    timer?.dispose()
    const value = usage === undefined || usage === UINT64_MAX ? known?.usage : usage
    return value === undefined ? image : { ...image, usage: value, usageExclusive: value }
  }

  /** Drops what is known of a tree (it was removed, renamed or changed). */
  forget(image: Image): void {
    this.#measured.delete(keyOf(image))
  }

  #stale(m: Measured): boolean {
    return this.#options.clock.realtimeUsec() - m.at > USAGE_TTL_USEC
  }

  #start(key: string, image: Image): Promise<bigint> {
    const running = this.#running.get(key)
    if (running !== undefined) return running
    const scan = this.#options.run(() => this.#options.scan(image))
      .then((usage) => {
        // UINT64_MAX: the pool cannot (or will not) measure it; nothing is known then.
        if (usage !== UINT64_MAX) this.#measured.set(key, { usage, at: this.#options.clock.realtimeUsec() })
        return usage
      })
      .finally(() => this.#running.delete(key))
    this.#running.set(key, scan)
    return scan
  }

  #enqueue(key: string, image: Image): void {
    if (this.#running.has(key)) return
    this.#queue.set(key, image)
    this.#pump()
  }

  #pump(): void {
    while (this.#background < BACKGROUND_SCANS && this.#queue.size > 0 && this.#options.hasRoom()) {
      const [key, image] = this.#queue.entries().next().value as [string, Image]
      this.#queue.delete(key)
      if (this.#running.has(key)) continue
      this.#background++
      this.#start(key, image)
        .catch((err: unknown) => this.#options.log.debug('Measuring an image failed, ignoring', { path: image.path, error: String(err) }))
        .finally(() => {
          this.#background--
          this.#pump()
        })
    }
  }
}
