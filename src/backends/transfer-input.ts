/**
 * Where a transfer's data comes from. A regular file (the usual
 * `machinectl import-tar FILE`) is read by the tools themselves, straight
 * from the fd the caller passed: the daemon only peeks at its first bytes
 * (pread, so nothing is consumed) and watches how far the reading tool
 * got (its stdin's position in /proc/PID/fdinfo), which is the progress
 * systemd-import reports too. A pipe, or a download, flows through the
 * daemon instead: read without blocking (epoll, never the thread pool,
 * whose few threads a stalled pipe would hold), counted, hashed where a
 * checksum is wanted, and written on to the first tool with back-pressure.
 * @module
 */

import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { read as readCb } from 'node:fs'
import type { Readable, Writable } from 'node:stream'

/** pread(2): a read at an offset, which leaves the fd's position (shared with the caller's open file) alone. */
const preadAsync = promisify(readCb)

/** A regular file the caller passed: the tools read it themselves. */
export class FileInput {
  readonly kind = 'file'
  readonly fd: number
  /** Its size, and where its fd stood when it came (reading starts there, as systemd-import's read() does). */
  readonly size: number
  readonly start: number

  constructor(fd: number, size: number, start: number) {
    this.fd = fd
    this.size = size
    this.start = start
  }

  /** The first `n` bytes from the fd's position, without moving it. */
  async head(n: number): Promise<Uint8Array> {
    const buf = Buffer.alloc(n)
    const { bytesRead } = await preadAsync(this.fd, buf, 0, n, this.start)
    return buf.subarray(0, bytesRead)
  }

  /** The last `n` bytes (of those from the start on). */
  async tail(n: number): Promise<Uint8Array> {
    const from = Math.max(this.start, this.size - n)
    const buf = Buffer.alloc(this.size - from)
    const { bytesRead } = await preadAsync(this.fd, buf, 0, buf.length, from)
    return buf.subarray(0, bytesRead)
  }

  /** Percent of the file the tool with PID `reader` has read through its stdin; undefined when that cannot be told. */
  async percentReadBy(reader: number | undefined): Promise<number | undefined> {
    if (reader === undefined) return undefined
    const info = await readFile(`/proc/${reader}/fdinfo/0`, 'utf8').catch(() => undefined)
    const pos = info === undefined ? undefined : /^pos:\s+(\d+)$/m.exec(info)?.[1]
    if (pos === undefined) return undefined
    const total = this.size - this.start
    if (total <= 0) return 100
    return Math.min(100, Math.floor(((Number(pos) - this.start) * 100) / total))
  }
}

/** What a stream's bytes pass through on their way (a hash, a size limit, a progress count). */
export type ChunkObserver = (chunk: Buffer) => void

/** A stream that flows through the daemon: a pipe the caller passed, or a download. */
export class StreamInput {
  readonly kind = 'stream'
  readonly #stream: Readable
  readonly #iterator: AsyncIterator<Buffer>
  readonly #observe: ChunkObserver | undefined
  #pending: Buffer[] = []
  #ended = false
  /** The last bytes that went through (a tar stream's end-of-archive check). */
  #tail = Buffer.alloc(0)
  /** Bytes passed on so far. */
  transferred = 0

  /** `signal`: the transfer's; once it aborts, the stream goes (a pipe that never ends must not hold the transfer). */
  constructor(stream: Readable, observe?: ChunkObserver, signal?: AbortSignal) {
    this.#stream = stream
    this.#iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>
    this.#observe = observe
    signal?.addEventListener('abort', () => stream.destroy(), { once: true })
  }

  async #next(): Promise<Buffer | undefined> {
    if (this.#ended) return undefined
    const r = await this.#iterator.next()
    if (r.done === true) { this.#ended = true; return undefined }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value)
    this.#observe?.(chunk)
    return chunk
  }

  /** At least `n` first bytes (fewer at the end of the stream), kept to be passed on. */
  async head(n: number): Promise<Uint8Array> {
    let have = this.#pending.reduce((s, b) => s + b.length, 0)
    while (have < n) {
      const chunk = await this.#next()
      if (chunk === undefined) break
      this.#pending.push(chunk)
      have += chunk.length
    }
    return Buffer.concat(this.#pending).subarray(0, n)
  }

  /** The last bytes passed on, up to 1024. */
  get tail(): Uint8Array {
    return this.#tail
  }

  /**
   * Writes everything (what head() kept first) to `sink`, waiting for it
   * to drain. When the sink goes away first (a tool that failed: its exit
   * says why) or the transfer is cancelled, reading stops and this
   * resolves; a failure to read rejects.
   */
  async pipeTo(sink: Writable): Promise<void> {
    let finished = false
    let stopped = false
    const stop = (): void => {
      if (finished || stopped) return
      stopped = true
      this.#stream.destroy()
    }
    sink.on('error', stop)
    sink.once('close', stop)
    const write = async (chunk: Buffer): Promise<void> => {
      this.transferred += chunk.length
      this.#tail = Buffer.concat([this.#tail, chunk.subarray(Math.max(0, chunk.length - 1024))]).subarray(-1024)
      if (!sink.write(chunk)) await Promise.race([once(sink, 'drain'), once(sink, 'close')])
    }
    try {
      for (const chunk of this.#pending.splice(0)) {
        if (stopped) return
        await write(chunk)
      }
      for (;;) {
        if (stopped) return
        const chunk = await this.#next()
        if (chunk === undefined) break
        await write(chunk)
      }
      finished = true
      sink.end()
    } catch (err) {
      if (stopped || this.#stream.destroyed) return
      throw err
    }
  }

  /** Reads everything into memory, at most `max` bytes (checksum and signature files). */
  async readAll(max: number): Promise<Buffer | undefined> {
    const parts = this.#pending.splice(0)
    let size = parts.reduce((s, b) => s + b.length, 0)
    for (;;) {
      const chunk = await this.#next()
      if (chunk === undefined) break
      size += chunk.length
      if (size > max) return undefined
      parts.push(chunk)
    }
    return Buffer.concat(parts)
  }

  destroy(): void {
    this.#stream.destroy()
  }
}

export type TransferInput = FileInput | StreamInput
