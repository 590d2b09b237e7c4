/**
 * Compression of transfers (systemd's import-compress.c): recognised by
 * the stream's first bytes, never by a file name; undone and done by the
 * standard tools (xz-utils, gzip, bzip2, zstd) as child processes of the
 * transfer (docs/decisions/006-transfers-with-tools.md says why), except
 * gzip's decoding, which the daemon does with zlib as systemd-import does.
 * zstd is one more than systemd 252 knows.
 * @module
 */

import type { Transform, TransformOptions } from 'node:stream'
import { createGunzip, type ZlibOptions } from 'node:zlib'
import type { ExportFormat } from '../protocol/transfer.ts'

export type Compression = 'uncompressed' | 'xz' | 'gzip' | 'bzip2' | 'zstd'

const SIGNATURES: readonly (readonly [Exclude<Compression, 'uncompressed'>, readonly number[]])[] = [
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['gzip', [0x1f, 0x8b]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
]

/** The most bytes detection may need. */
export const SIGNATURE_BYTES = 6

/**
 * import_uncompress_detect(): the compression `head` starts with;
 * undefined while more bytes are needed to tell (and `atEnd` is false).
 */
export function detectCompression(head: Uint8Array, atEnd: boolean): Compression | undefined {
  for (const [type, magic] of SIGNATURES) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return type
  }
  if (head.length < SIGNATURE_BYTES && !atEnd) {
    // A prefix of some signature could still become one.
    const maybe = SIGNATURES.some(([, magic]) => head.every((b, i) => i >= magic.length || magic[i] === b))
    if (maybe) return undefined
  }
  return 'uncompressed'
}

/**
 * zlib's output chunks: big ones, so tar gets few, full writes and each
 * chunk costs one trip through the thread pool and the event loop
 * (systemd-import's buffer is 16 KiB, but it writes on without either).
 * 512 KiB took a tenth less of the daemon's CPU than 256 KiB on a gzip'd
 * 256 MiB tarball; 1 and 4 MiB took no less than 512 KiB.
 */
const INFLATE_CHUNK_BYTES = 512 * 1024

/**
 * A decompression the daemon does itself, as systemd-import does
 * (import_uncompress() with zlib, writing into tar's stdin), or undefined
 * when a tool does it. Only gzip: zlib's inflate needs about a third of
 * the CPU time of GNU gzip's own (`gzip -dc`), which made imports of
 * gzip'd tarballs three times slower than importd's; xz, bzip2 and zstd
 * have no decoder in node:zlib.
 */
export function inProcessDecompressor(c: Exclude<Compression, 'uncompressed'>): Transform | undefined {
  if (c !== 'gzip') return undefined
  // Two chunks may wait decoded, so zlib goes on with the next while tar's stdin takes the last (with the default 16 KiB it stopped
  // until the socket had drained). Node passes the options on to stream.Transform, whose option this is, but ZlibOptions does not say so.
  const options: ZlibOptions & Pick<TransformOptions, 'readableHighWaterMark'> = { chunkSize: INFLATE_CHUNK_BYTES, readableHighWaterMark: 2 * INFLATE_CHUNK_BYTES }
  return createGunzip(options)
}

/** The command line that turns the compressed stream on stdin into the plain one on stdout. */
export function decompressor(c: Exclude<Compression, 'uncompressed'>): readonly [string, readonly string[]] {
  switch (c) {
    case 'xz': return ['xz', ['-dc', '-T0']]
    case 'gzip': return ['gzip', ['-dc']]
    case 'bzip2': return ['bzip2', ['-dc']]
    case 'zstd': return ['zstd', ['-dcq']]
  }
}

/** The command line that compresses stdin onto stdout, at systemd's levels (xz and gzip's defaults, bzip2's 9). */
export function compressor(c: Exclude<ExportFormat, 'uncompressed'>): readonly [string, readonly string[]] {
  switch (c) {
    case 'xz': return ['xz', ['-c', '-T0']]
    case 'gzip': return ['gzip', ['-c']]
    case 'bzip2': return ['bzip2', ['-c', '-9']]
    case 'zstd': return ['zstd', ['-cq', '-T0']]
  }
}
