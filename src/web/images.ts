/**
 * The images page's data (GET /api/images): the pool's images with their
 * usage and limits, the pool's own, and the transfers under way with their
 * progress, each read through the client library when asked (machined has
 * no image signals, so the page asks every few seconds, and every second
 * while a transfer runs). Images are this host's only: the fleet
 * publishes machines, not images.
 * @module
 */

import type { ImageClient, ImageRecord, PoolInfo } from '../client/image-types.ts'
import { FailedError } from '../protocol/errors.ts'
import { UINT64_MAX } from '../protocol/image.ts'
import type { ImageRow, ImagesPayload, TransferRow } from './api-types.ts'

/** A transfer as the client lists it (ListTransfers): progress 0…1, or below 0 while not known (importd's -DBL_MAX). */
export interface TransferListing {
  readonly id: number
  readonly type: string
  readonly remote: string
  readonly local: string
  readonly progress: number
}

export interface ImageCatalogueOptions {
  /** The client's images, or undefined while the daemon is not connected. */
  readonly images: () => ImageClient | undefined
  /** The transfers under way; undefined where this console has no way to list them. */
  readonly transfers?: (() => Promise<readonly TransferListing[]>) | undefined
}

const bytes = (v: bigint): number | null => (v === UINT64_MAX ? null : Number(v))
const ms = (us: bigint): number => Number(us / 1000n)

export function imageRow(r: ImageRecord): ImageRow {
  const limit = r.limit === UINT64_MAX ? r.limitExclusive : r.limit
  return {
    name: r.name, type: r.type, path: r.path, readOnly: r.readOnly,
    usage: bytes(r.usage), usageExclusive: bytes(r.usageExclusive), limit: bytes(limit),
    created: ms(r.crtime), modified: ms(r.mtime),
  }
}

export function transferRow(t: TransferListing): TransferRow {
  return { id: t.id, type: t.type, remote: t.remote, local: t.local, progress: t.progress >= 0 && t.progress <= 1 ? t.progress : null }
}

export class ImageCatalogue {
  readonly #o: ImageCatalogueOptions

  constructor(options: ImageCatalogueOptions) {
    this.#o = options
  }

  /** Rejects with the daemon's error, or FailedError while the daemon is not connected. */
  async read(): Promise<ImagesPayload> {
    const images = this.#o.images()
    if (images === undefined) throw new FailedError('Not connected to machined')
    const [list, pool, transfers] = await Promise.all([
      images.list(),
      // Only D-Bus has the pool's figures: without them the page shows none.
      images.pool().catch((): PoolInfo | undefined => undefined),
      // A daemon that serves no transfers (no import1) still has its images shown; the section then says it cannot list them.
      this.#o.transfers?.().catch((): undefined => undefined),
    ])
    return {
      images: list.map(imageRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      pool: pool === undefined ? null : { path: pool.path, usage: bytes(pool.usage), limit: bytes(pool.limit) },
      transfers: transfers === undefined ? null : transfers.map(transferRow).sort((a, b) => a.id - b.id),
    }
  }
}
