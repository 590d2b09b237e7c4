/**
 * Tarballs in and out of the pool with GNU tar, as systemd-import and
 * systemd-export run it (import-common.c: `tar --ignore-zeros
 * --numeric-owner -C DIR -pxf - --xattrs --xattrs-include=* --no-selinux`,
 * and `tar -C DIR -c --xattrs --xattrs-include=* --no-selinux .`), behind
 * a decompressor or before a compressor when the stream is compressed.
 *
 * GNU tar already refuses members with ".." in their names or link
 * targets, and never writes through a symlink the archive made (it
 * extracts such links last, as placeholders until then); it does not
 * refuse absolute names, which it only strips with a warning ("Removing
 * leading `/'"), and it accepts an archive cut off between two members.
 * Both are refused here: the warning stops the extraction at once, and
 * an archive must end in its end-of-archive zero block. Device nodes are
 * made only with `mknod` (tar keeps CAP_MKNOD then, as systemd's does);
 * without it, tar fails on the first one.
 * @module
 */

import type { Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { detectCompression, decompressor, compressor, inProcessDecompressor, SIGNATURE_BYTES, type Compression } from './transfer-compress.ts'
import { preadAsync, type FileInput, type TransferInput } from './transfer-input.ts'
import type { JobContext } from './transfer-job.ts'
import { expectSuccess, extractCapabilities, READ_CAPABILITIES, startTool, type Tool } from './transfer-process.ts'

const EXTRACT_ARGS = ['--ignore-zeros', '--numeric-owner', '-pxf', '-', '--xattrs', '--xattrs-include=*', '--no-selinux']

/** How often the reader's position is looked at, and "Imported N%." said when it moved (systemd's rate limit is 100 ms). */
const PROGRESS_INTERVAL_MS = 200

/** GNU tar's words when it strips what would leave the directory it extracts to. */
const ESCAPING = /^tar: Removing leading `[^']*' from (member names|hard link targets)$/

function allZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0)
}

export interface ProgressWatch {
  /** The reader got through all of it: 100%, if that was not said yet. */
  finish(): void
  stop(): void
}

/** How far through the file input the reading got, in percent; undefined when that cannot be told. */
export type PercentRead = () => Promise<number | undefined>

/** The percent of the file input the tool `reader` has read through its stdin. */
export function readByTool(input: TransferInput, reader: Tool): PercentRead {
  return async () => (input.kind === 'file' ? input.percentReadBy(reader.child.pid) : undefined)
}

/** Says "PREFIX N%." (and reports N) whenever the reading of the file input has got further. */
export function watchFileProgress(job: JobContext, input: TransferInput, percentRead: PercentRead, prefix: string | undefined): ProgressWatch {
  if (input.kind !== 'file' || prefix === undefined) return { finish: () => undefined, stop: () => undefined }
  let last: number | undefined
  const say = (percent: number): void => {
    if (percent === last || job.cancelled) return
    last = percent
    job.sink.progress(percent)
    job.info(`${prefix} ${percent}%.`)
  }
  const timer = setInterval(() => {
    void percentRead().then((percent) => { if (percent !== undefined) say(percent) })
  }, PROGRESS_INTERVAL_MS)
  return { finish: () => say(100), stop: () => clearInterval(timer) }
}

/** The compression the input starts with. */
export async function inputCompression(input: TransferInput): Promise<Compression> {
  const head = await input.head(SIGNATURE_BYTES)
  // Everything there is was read: a short stream is as good as at its end.
  return detectCompression(head, true) ?? 'uncompressed'
}

export interface ExtractOptions {
  /** Whether device nodes may be made (tar keeps CAP_MKNOD). */
  readonly mknod: boolean
  /** "Imported" for imports; undefined: no progress lines (downloads report their own). */
  readonly progressPrefix?: string
}

/**
 * Extracts the (possibly compressed) tarball `input` into `dir`, which
 * exists and is empty. Throws TransferFailed, having said why.
 */
export async function extractTar(job: JobContext, input: TransferInput, dir: string, options: ExtractOptions): Promise<void> {
  const [compression, tail] = await Promise.all([inputCompression(input), input.kind === 'file' && input.size - input.start >= 512 ? input.tail(512) : undefined])
  if (compression === 'uncompressed' && tail !== undefined && !allZero(tail)) {
    throw job.fail('Archive ends without its end-of-archive block: it is truncated, refusing.')
  }
  const inflater = compression === 'uncompressed' ? undefined : inProcessDecompressor(compression)
  const stdin = input.kind === 'file' && inflater === undefined ? input.fd : 'pipe'
  let escaping: string | undefined
  let first: Tool | undefined
  let tarStdin: number | 'pipe' | Tool['child']['stdout'] = stdin
  if (compression !== 'uncompressed' && inflater === undefined) {
    const [command, args] = decompressor(compression)
    first = startTool(job, command, args, { stdin, stdout: 'pipe' })
    tarStdin = first.child.stdout
  }
  const tar: Tool = startTool(job, 'tar', ['-C', dir, ...EXTRACT_ARGS], {
    stdin: tarStdin ?? 'ignore',
    capabilities: extractCapabilities({ mknod: options.mknod }),
    onStderr: (line) => {
      job.info(line)
      if (escaping === undefined && ESCAPING.test(line)) {
        escaping = line
        tar.child.kill('SIGKILL')
      }
    },
  })
  // Only the tools hold the pipe between them: our copy goes, so a tool that stops makes the other stop too.
  first?.child.stdout?.destroy()
  const reader = first ?? tar
  const inflating = inflater === undefined ? undefined : inflateInto(input, inflater, tar.child.stdin!)
  const progress = watchFileProgress(job, input, inflating?.percentRead ?? readByTool(input, reader), options.progressPrefix)
  try {
    if (input.kind === 'stream' && inflating === undefined) await input.pipeTo(reader.child.stdin!)
    const [tarExit, firstExit, inflated] = await Promise.all([tar.exited, first?.exited, inflating?.done])
    job.checkCancelled()
    if (escaping !== undefined) throw job.fail('Archive has members whose names lead out of the image (absolute, or through ".."), refusing.')
    // A corrupt or cut-off stream is why tar failed, if it did.
    if (inflated !== undefined) throw job.fail(`Failed to decode and write: ${inflated.message}.`)
    // A decompressor that failed by itself (a corrupt or cut-off stream) is why; one killed by SIGPIPE only followed tar.
    if (first !== undefined && firstExit !== undefined && firstExit.code !== 0 && firstExit.signal === null) await expectSuccess(job, first)
    if (tarExit.code !== 0) await expectSuccess(job, tar)
    if (first !== undefined) await expectSuccess(job, first)
    if (compression === 'uncompressed' && input.kind === 'stream' && !allZero(input.tail.subarray(-512))) {
      throw job.fail('Archive ends without its end-of-archive block: it is truncated, refusing.')
    }
    progress.finish()
  } finally {
    progress.stop()
  }
}

/** How big the reads of a file input are when the daemon decompresses it (as big as zlib's output chunks: see transfer-compress.ts). */
const INFLATE_READ_BYTES = 512 * 1024

interface Inflating {
  /** Resolves once all is written (or the sink went away: the tool's exit says why) to undefined, or to the decoder's error. */
  readonly done: Promise<Error | undefined>
  readonly percentRead: PercentRead
}

/**
 * Decompresses `input` in the daemon into `sink` (tar's stdin), as
 * systemd-import does: a file input read from its fd's position on (the
 * thread pool's reads, as for any regular file), a stream as it comes;
 * progress is the share of the file read.
 */
function inflateInto(input: TransferInput, inflater: Transform, sink: Writable): Inflating {
  let decodeError: Error | undefined
  let sinkGone = false
  // Registered before pipeline()'s own listeners: once tar's stdin fails (tar failed, or was killed), what follows is no decoding error.
  sink.on('error', () => { sinkGone = true })
  const failed = (err: unknown): void => {
    if (!sinkGone) decodeError ??= err instanceof Error ? err : new Error(String(err))
  }
  inflater.on('error', failed)
  const written = pipeline(inflater, sink).catch(() => undefined)
  if (input.kind === 'stream') {
    const fed = input.pipeTo(inflater).catch(failed)
    return { done: Promise.all([fed, written]).then(() => decodeError), percentRead: async () => undefined }
  }
  let read = 0
  const total = input.size - input.start
  const fed = feedFile(input, inflater, (n) => { read += n }).catch((err: unknown) => {
    failed(err)
    inflater.destroy()
  })
  return {
    done: Promise.all([fed, written]).then(() => decodeError),
    percentRead: async () => (total <= 0 ? 100 : Math.min(100, Math.floor((read * 100) / total))),
  }
}

/**
 * Writes the file input, from its start on, into `inflater`, through two
 * buffers taken in turn: one is read into while zlib decodes the other,
 * and a buffer is read into again only once zlib is done with it (its
 * write's callback). So at most two reads' worth waits, whatever the
 * size of the file, and the same memory serves every read (a new buffer
 * per read, as createReadStream() takes, is fresh pages the kernel must
 * fault in: a tenth of the daemon's CPU time on a 256 MiB tarball). Stops
 * early once the inflater is gone (tar failed, or the transfer ended).
 */
async function feedFile(input: FileInput, inflater: Transform, onRead: (bytes: number) => void): Promise<void> {
  const buffers = [Buffer.allocUnsafe(INFLATE_READ_BYTES), Buffer.allocUnsafe(INFLATE_READ_BYTES)] as const
  const decoded: [Promise<void>, Promise<void>] = [Promise.resolve(), Promise.resolve()]
  // A write zlib was still decoding when the inflater was destroyed (tar stopped) never gets its callback.
  const gone = new Promise<void>((resolve) => inflater.once('close', () => resolve()))
  let position = input.start
  for (let k: 0 | 1 = 0; ; k = k === 0 ? 1 : 0) {
    await Promise.race([decoded[k], gone])
    if (inflater.destroyed) return
    const buffer = buffers[k]
    const { bytesRead } = await preadAsync(input.fd, buffer, 0, buffer.length, position)
    if (bytesRead === 0) break
    position += bytesRead
    onRead(bytesRead)
    // The callback comes once zlib has taken all of the chunk in, or with an error once the inflater is gone: either way the buffer is free
    // (after 'close' too: the buffer goes unused, as the loop ends).
    decoded[k] = new Promise((resolve) => inflater.write(buffer.subarray(0, bytesRead), () => resolve()))
  }
  inflater.end()
}

/** Writes the tree at `dir` as a tarball, compressed with `format`, to `outFd`. */
export async function createTar(job: JobContext, dir: string, outFd: number, format: Compression): Promise<void> {
  const args = ['-C', dir, '-c', '--xattrs', '--xattrs-include=*', '--no-selinux', '.']
  if (format === 'uncompressed') {
    await expectSuccess(job, startTool(job, 'tar', args, { stdout: outFd, capabilities: READ_CAPABILITIES }))
    return
  }
  const tar = startTool(job, 'tar', args, { stdout: 'pipe', capabilities: READ_CAPABILITIES })
  const [command, cargs] = compressor(format)
  const packer = startTool(job, command, cargs, { stdin: tar.child.stdout!, stdout: outFd })
  tar.child.stdout?.destroy()
  await Promise.all([tar.exited, packer.exited])
  await expectSuccess(job, tar)
  await expectSuccess(job, packer)
}
