/**
 * Raw disk images in and out of the pool (systemd's import-raw.c,
 * export-raw.c and qcow2-util.c). An image comes in through a
 * decompressor when compressed and is written sparse (GNU dd
 * conv=sparse: blocks of zeros become holes, as sparse_write() makes
 * them); an uncompressed file is copied by GNU cp, which reflinks where
 * the file system can (btrfs_reflink()). A QCOW2 image is converted to
 * raw by qemu-img (qemu-utils), after qemu-img has said that it neither
 * has a backing file nor an external data file: either would make the
 * conversion read a file of the host into the image, so both are
 * refused, and the conversion runs with backing files switched off.
 * @module
 */

import { constants } from 'node:fs'
import { open, stat, unlink } from 'node:fs/promises'
import { FS_NOCOW_FL, setFileAttributes } from '../native/images.ts'
import { compressor, startDecoder, type Compression, type Decoder } from './transfer-compress.ts'
import { FileInput, type TransferInput } from './transfer-input.ts'
import { errnoText, tempPathFor } from './transfer-install.ts'
import type { JobContext } from './transfer-job.ts'
import { expectSuccess, runJobTool, runToolOutput, startTool, type Tool } from './transfer-process.ts'
import { inputCompression, readByTool, watchFileProgress } from './transfer-tar.ts'

const QCOW2_MAGIC = [0x51, 0x46, 0x49, 0xfb]

/** A new, empty temporary file next to `final`, removed unless the job finishes; NOCOW where the file system has it (import_set_nocow_and_log()). */
async function makeTempFile(job: JobContext, final: string): Promise<string> {
  const temp = tempPathFor(final)
  let file
  try {
    file = await open(temp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOCTTY, 0o664)
  } catch (err) {
    throw job.fail(`Failed to open destination '${temp}': ${errnoText(err)}`)
  }
  job.onFailure(() => unlink(temp))
  try {
    setFileAttributes(file.fd, FS_NOCOW_FL, FS_NOCOW_FL)
  } catch {
    // Only btrfs has copy-on-write to switch off.
  } finally {
    await file.close()
  }
  return temp
}

async function isQcow2(path: string): Promise<boolean> {
  const file = await open(path, 'r')
  try {
    const buf = Buffer.alloc(4)
    const { bytesRead } = await file.read(buf, 0, 4, 0)
    return bytesRead === 4 && QCOW2_MAGIC.every((b, i) => buf[i] === b)
  } finally {
    await file.close()
  }
}

/** qemu-img's view of `path` as qcow2 with backing files switched off. */
function qcow2Spec(path: string): string {
  return `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: path } })}`
}

/** raw_import_maybe_convert_qcow2(): a QCOW2 image at `temp` becomes a raw one; resolves to the raw file (a new temporary file). */
async function convertQcow2(job: JobContext, temp: string, final: string): Promise<string> {
  const info = JSON.parse(await runToolOutput(job, 'qemu-img', ['info', '--output=json', qcow2Spec(temp)])) as {
    'backing-filename'?: string; 'format-specific'?: { data?: { 'data-file'?: string } }
  }
  if (info['backing-filename'] !== undefined) throw job.fail(`QCOW2 image refers to a backing file (${info['backing-filename']}), refusing.`)
  if (info['format-specific']?.data?.['data-file'] !== undefined) throw job.fail('QCOW2 image keeps its data in an external file, refusing.')
  job.info('Unpacking QCOW2 file.')
  const converted = await makeTempFile(job, final)
  await runJobTool(job, 'qemu-img', ['convert', '-q', '-O', 'raw', qcow2Spec(temp), converted])
  await unlink(temp)
  return converted
}

export interface RawWritten {
  /** The temporary file that holds the image now. */
  readonly temp: string
  /** Bytes written (before a QCOW2 conversion), for "Wrote N." */
  readonly written: number
}

/**
 * Writes the (possibly compressed) raw image `input` into a temporary
 * file next to `final`, converting QCOW2. `progressPrefix`: "Imported"
 * for imports (a download reports its own progress).
 */
export async function writeRawImage(job: JobContext, input: TransferInput, final: string, progressPrefix?: string): Promise<RawWritten> {
  const compression: Compression = await inputCompression(input)
  let temp = await makeTempFile(job, final)
  const stdin = input.kind === 'file' ? input.fd : 'pipe'
  let decoder: Decoder | undefined
  let writer: Tool
  if (compression === 'uncompressed' && input.kind === 'file' && input.start === 0) {
    // raw_import_try_reflink(): the whole file, reflinked where it can be.
    writer = startTool(job, 'cp', ['--reflink=auto', '--sparse=always', '--', '/proc/self/fd/3', temp], { extraFds: [input.fd] })
  } else {
    if (compression !== 'uncompressed') decoder = startDecoder(job, compression, stdin)
    writer = startTool(job, 'dd', [`of=${temp}`, 'bs=64K', 'iflag=fullblock', 'conv=sparse', 'status=none'], { stdin: decoder?.tool.child.stdout ?? stdin })
    decoder?.tool.child.stdout?.destroy()
  }
  const first = decoder?.tool
  const reader = first ?? writer
  const progress = watchFileProgress(job, input, readByTool(input, reader), progressPrefix)
  try {
    if (input.kind === 'stream') await input.pipeTo(reader.child.stdin!)
    const [, firstExit] = await Promise.all([writer.exited, first?.exited])
    job.checkCancelled()
    if (decoder !== undefined && firstExit !== undefined && firstExit.code !== 0 && firstExit.signal === null) await decoder.expectSuccess()
    await expectSuccess(job, writer)
    if (decoder !== undefined) await decoder.expectSuccess()
    progress.finish()
  } finally {
    progress.stop()
  }
  const written = (await stat(temp)).size
  if (await isQcow2(temp)) temp = await convertQcow2(job, temp, final)
  return { temp, written }
}

/** export-raw: the image file at `path`, compressed with `format`, to `outFd`; "Exported N%." as it goes. */
export async function exportRawImage(job: JobContext, path: string, outFd: number, format: Compression): Promise<void> {
  const image = await open(path, constants.O_RDONLY | constants.O_NOCTTY)
  try {
    const size = (await image.stat()).size
    const reader = format === 'uncompressed'
      ? startTool(job, 'dd', ['bs=1M', 'status=none'], { stdin: image.fd, stdout: outFd })
      : startTool(job, compressor(format)[0], compressor(format)[1], { stdin: image.fd, stdout: outFd })
    const exported = new FileInput(image.fd, size, 0)
    const progress = watchFileProgress(job, exported, readByTool(exported, reader), 'Exported')
    try {
      await expectSuccess(job, reader)
    } finally {
      progress.stop()
    }
  } finally {
    await image.close()
  }
}
