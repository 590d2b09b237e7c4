/**
 * Tarballs in and out of the pool with GNU tar, as systemd-import and
 * systemd-export run it (import-common.c: `tar --ignore-zeros
 * --numeric-owner -C DIR -pxf - --xattrs --xattrs-include=* --no-selinux`,
 * here with bigger records, and `tar -C DIR -c --xattrs --xattrs-include=*
 * --no-selinux .`), behind
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

import { detectCompression, compressor, startDecoder, SIGNATURE_BYTES, type Compression } from './transfer-compress.ts'
import type { TransferInput } from './transfer-input.ts'
import type { JobContext } from './transfer-job.ts'
import { expectSuccess, extractCapabilities, READ_CAPABILITIES, startTool, type Tool } from './transfer-process.ts'

/**
 * systemd's arguments, and 1 MiB records instead of GNU tar's 10 KiB: tar
 * reads its stdin and writes each file's data a record at a time, so a
 * 256 MiB tarball of 8,400 files took 26,588 reads and 30,122 writes;
 * with 1 MiB records 270 and 4,445, about a quarter less of tar's CPU
 * time on a fresh ext4 (0.17 s against 0.22 s). GNU tar
 * reading `-f -` takes short reads as they come (it fills records from a
 * pipe, --read-full-records being its default there), so pipes, short
 * and concatenated archives read as before.
 */
const EXTRACT_ARGS = ['--ignore-zeros', '--numeric-owner', '--record-size=1M', '-pxf', '-', '--xattrs', '--xattrs-include=*', '--no-selinux']

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
  const stdin = input.kind === 'file' ? input.fd : 'pipe'
  let escaping: string | undefined
  const decoder = compression === 'uncompressed' ? undefined : startDecoder(job, compression, stdin)
  const first = decoder?.tool
  const tar: Tool = startTool(job, 'tar', ['-C', dir, ...EXTRACT_ARGS], {
    stdin: first?.child.stdout ?? stdin,
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
  const progress = watchFileProgress(job, input, readByTool(input, reader), options.progressPrefix)
  try {
    if (input.kind === 'stream') await input.pipeTo(reader.child.stdin!)
    const [tarExit, firstExit] = await Promise.all([tar.exited, first?.exited])
    job.checkCancelled()
    if (escaping !== undefined) throw job.fail('Archive has members whose names lead out of the image (absolute, or through ".."), refusing.')
    // A decoder that failed by itself (a corrupt or cut-off stream) is why; one killed by SIGPIPE only followed tar.
    if (decoder !== undefined && firstExit !== undefined && firstExit.code !== 0 && firstExit.signal === null) await decoder.expectSuccess()
    if (tarExit.code !== 0) await expectSuccess(job, tar)
    if (decoder !== undefined) await decoder.expectSuccess()
    if (compression === 'uncompressed' && input.kind === 'stream' && !allZero(input.tail.subarray(-512))) {
      throw job.fail('Archive ends without its end-of-archive block: it is truncated, refusing.')
    }
    progress.finish()
  } finally {
    progress.stop()
  }
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
