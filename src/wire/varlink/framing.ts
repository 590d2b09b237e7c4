/**
 * Varlink framing: every message is one JSON text followed by a NUL byte.
 * Chunks from the socket are split at NULs however they arrive (a message
 * across many reads, many messages in one read). A message longer than
 * the limit is never buffered whole: once it passes the limit the decoder
 * reports it and takes nothing more (sd-varlink gives up the same way when
 * its 16 MiB input buffer fills without a NUL: VARLINK_BUFFER_MAX).
 * @module
 */

export type Frame =
  | { readonly kind: 'message'; readonly bytes: Buffer }
  | { readonly kind: 'oversized' }

export class FrameDecoder {
  readonly #maxMessageSize: number
  #partial: Buffer[] = []
  #partialSize = 0
  #failed = false

  constructor(maxMessageSize: number) {
    this.#maxMessageSize = maxMessageSize
  }

  /** Bytes of a message whose NUL has not arrived yet. */
  get pendingBytes(): number {
    return this.#partialSize
  }

  /** The complete frames in `chunk` (and what came before it); after an oversized one, nothing more. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = []
    let start = 0
    while (!this.#failed && start < chunk.length) {
      const nul = chunk.indexOf(0, start)
      const end = nul < 0 ? chunk.length : nul
      if (this.#partialSize + end - start > this.#maxMessageSize) {
        this.#failed = true
        this.#partial = []
        this.#partialSize = 0
        frames.push({ kind: 'oversized' })
        break
      }
      if (nul < 0) {
        // Copy: the socket may reuse its buffer, and a small tail must not pin a large chunk.
        this.#partial.push(Buffer.from(chunk.subarray(start)))
        this.#partialSize += chunk.length - start
        break
      }
      const piece = chunk.subarray(start, nul)
      const bytes = this.#partial.length === 0 ? Buffer.from(piece) : Buffer.concat([...this.#partial, piece])
      this.#partial = []
      this.#partialSize = 0
      frames.push({ kind: 'message', bytes })
      start = nul + 1
    }
    return frames
  }
}
