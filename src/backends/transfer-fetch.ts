/**
 * Downloads for pulls (what systemd-pull does with libcurl, pull-job.c):
 * http:// and https:// through Node's fetch (redirects followed, as
 * CURLOPT_FOLLOWLOCATION does), file:// from the file system. A download
 * that delivers nothing for a minute is given up (curl's
 * CURLOPT_LOW_SPEED_TIME of 60 s); one that ends before its
 * Content-Length is "truncated"; one longer than its cap is refused.
 * @module
 */

import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { JobContext } from './transfer-job.ts'

/** systemd-pull's caps: 64 GiB for images, 1 MiB for checksum, signature and settings files. */
export const IMAGE_MAX = 64 * 1024 ** 3
export const AUXILIARY_MAX = 1024 ** 2

/** How long a download may deliver nothing before it is given up. */
export const STALL_TIMEOUT_MS = 60_000

export interface Response {
  /** The HTTP status (200 for a file:// URL that exists, 404 for one that does not). */
  readonly status: number
  /** Content-Length, when the server sent one. */
  readonly length: number | undefined
  readonly body: Readable | undefined
}

/** Opens `url`; throws (having said "Transfer failed: …") when it cannot be reached at all. */
export async function openUrl(job: JobContext, url: string): Promise<Response> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url)
    const st = await stat(path).catch(() => undefined)
    if (st === undefined || !st.isFile()) return { status: 404, length: undefined, body: undefined }
    return { status: 200, length: st.size, body: createReadStream(path, { signal: job.signal }) }
  }
  let res: globalThis.Response
  try {
    res = await fetch(url, { signal: job.signal, redirect: 'follow', headers: { 'Accept-Encoding': 'identity' } })
  } catch (err) {
    job.checkCancelled()
    const cause = (err as { cause?: { message?: string } }).cause?.message
    throw job.fail(`Transfer failed: ${cause ?? (err as Error).message}`)
  }
  const header = res.headers.get('content-length')
  const length = header === null || !/^\d+$/.test(header) ? undefined : Number(header)
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined)
    return { status: res.status, length, body: undefined }
  }
  return { status: 200, length, body: res.body === null ? Readable.from([]) : Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>) }
}

/**
 * Watches a download as its chunks go by: resets the stall timer, keeps
 * it within `max` bytes and within its Content-Length. Returns the
 * observer for StreamInput and a check for its end.
 */
export function watchDownload(job: JobContext, url: string, length: number | undefined, max: number, onBytes: (total: number) => void): {
  observe: (chunk: Buffer) => void
  finish: () => void
  stop: () => void
  readonly failure: Error | undefined
} {
  let total = 0
  let failure: Error | undefined
  let timer: NodeJS.Timeout | undefined
  const fail = (message: string): void => {
    if (failure !== undefined) return
    failure = job.fail(message)
    job.abort(true)
  }
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => fail(`Transfer failed: Operation too slow. Nothing received from ${url} for ${STALL_TIMEOUT_MS / 1000} seconds.`), STALL_TIMEOUT_MS)
  }
  arm()
  return {
    observe: (chunk) => {
      total += chunk.length
      if (total > max) fail('File overly large, refusing.')
      else if (length !== undefined && total > length) fail(`Content length incorrect.`)
      else { arm(); onBytes(total) }
    },
    finish: () => {
      clearTimeout(timer)
      if (failure === undefined && length !== undefined && total < length) fail('Download truncated.')
    },
    stop: () => clearTimeout(timer),
    get failure() { return failure },
  }
}
