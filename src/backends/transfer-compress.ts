/**
 * Compression of transfers (systemd's import-compress.c): recognised by
 * the stream's first bytes, never by a file name; undone and done by the
 * standard tools (xz-utils, gzip, bzip2, zstd) as child processes of the
 * transfer (docs/decisions/006-transfers-with-tools.md says why), except
 * gzip's decoding, which a small zlib program of ours does (systemd-import
 * decodes it with zlib too). zstd is one more than systemd 252 knows.
 * @module
 */

import { GUNZIP_PROGRAM } from '../native/addon.ts'
import type { ExportFormat } from '../protocol/transfer.ts'
import type { JobContext } from './transfer-job.ts'
import { expectSuccess, startTool, type Tool, type ToolOptions } from './transfer-process.ts'

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
 * The command line that turns the compressed stream on stdin into the
 * plain one on stdout. gzip's is our own zlib program (native/gunzip/):
 * GNU gzip's inflate (`gzip -dc`) takes about three times zlib's CPU time,
 * and systemd-import decodes with zlib in its own process
 * (import_uncompress()).
 */
export function decompressor(c: Exclude<Compression, 'uncompressed'>): readonly [string, readonly string[]] {
  switch (c) {
    case 'xz': return ['xz', ['-dc', '-T0']]
    case 'gzip': return [GUNZIP_PROGRAM, []]
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

/** A decoder running as a tool of the job. */
export interface Decoder {
  readonly tool: Tool
  /**
   * Throws, having said why, unless the decoder succeeded: for gzip
   * "Failed to decode and write: WHY." (systemd-import's words, with
   * zlib's reason), for the others the tool's own lines and its status.
   */
  expectSuccess(): Promise<void>
}

/** Starts the decoder of `c`, reading `stdin`, its stdout a pipe for the next tool. */
export function startDecoder(job: JobContext, c: Exclude<Compression, 'uncompressed'>, stdin: NonNullable<ToolOptions['stdin']>): Decoder {
  const [command, args] = decompressor(c)
  if (c !== 'gzip') {
    const tool = startTool(job, command, args, { stdin, stdout: 'pipe' })
    return { tool, expectSuccess: () => expectSuccess(job, tool) }
  }
  // native/gunzip/ says why it failed in one line, kept for the message.
  let why: string | undefined
  const tool: Tool = { ...startTool(job, command, args, { stdin, stdout: 'pipe', onStderr: (line) => { why ??= line } }), name: 'gzip' }
  return {
    tool,
    expectSuccess: async () => {
      const { code } = await tool.exited
      if (code === 0 || why === undefined) return expectSuccess(job, tool)
      job.checkCancelled()
      throw job.fail(`Failed to decode and write: ${why}.`)
    },
  }
}
