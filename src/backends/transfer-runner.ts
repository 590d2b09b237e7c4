/**
 * The Transferer port: runs each transfer as systemd-importd's callouts
 * do (systemd-import tar|raw, systemd-import-fs, systemd-export tar|raw,
 * systemd-pull tar|raw; import.c, import-fs.c, export.c, pull.c), with
 * their messages, but in the daemon: its own work is only waiting and
 * passing bytes along, while tar, the decompressors, dd, cp, qemu-img
 * and gpgv do the rest as child processes. A job has two phases, as the
 * tools have: checks (a failure there ends it at once) and the transfer
 * itself, which always ends with "Exiting.".
 * @module
 */

import { close, fstat } from 'node:fs'
import { mkdir, readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Socket } from 'node:net'
import type { FdKind } from '../core/transfer-control.ts'
import type { ImagePool } from '../core/ports.ts'
import type { TransferJob, TransferSink, TransferSpec, Transferer } from '../core/transfers.ts'
import { lockImageName, type ImageLock } from '../native/image-lock.ts'
import { formatBytes } from '../protocol/bytes.ts'
import { exportFormatFromString } from '../protocol/transfer.ts'
import { FileInput, StreamInput, type TransferInput } from './transfer-input.ts'
import { errnoText, installImage, makeTempTree, mangleOsTree } from './transfer-install.ts'
import { JobContext, TransferFailed } from './transfer-job.ts'
import { runJobTool } from './transfer-process.ts'
import { pull } from './transfer-pull.ts'
import { exportRawImage, writeRawImage } from './transfer-raw.ts'
import { createTar, extractTar } from './transfer-tar.ts'
import { USER_KEYRING_PATH, VENDOR_KEYRING_PATH } from './transfer-verify.ts'

const fstatAsync = promisify(fstat)

/** What kind of file an fd is (fstat()). */
export async function fdKind(fd: number): Promise<FdKind> {
  const st = await fstatAsync(fd).catch(() => undefined)
  if (st === undefined) return 'other'
  return st.isFile() ? 'regular' : st.isFIFO() ? 'fifo' : st.isDirectory() ? 'directory' : 'other'
}

export function closeFd(fd: number): void {
  close(fd, () => undefined)
}

export interface LocalTransfererOptions {
  /** Finds images by name (an import's name taken, an export's image). */
  readonly images: Pick<ImagePool, 'find'>
  /** Where images go (/var/lib/machines). */
  readonly poolPath?: string
  readonly userKeyring?: string
  readonly vendorKeyring?: string
  /** Transfers wait for this first (the start-up sweep of what an earlier run left). */
  readonly ready?: Promise<void>
}

type ExportSpec = Extract<TransferSpec, { type: 'export-tar' | 'export-raw' }>

function isExport(spec: TransferSpec): spec is ExportSpec {
  return spec.type === 'export-tar' || spec.type === 'export-raw'
}

/** The checks a tool makes before its event loop; a failure here ends the transfer without "Exiting.". */
type Setup = (job: JobContext) => Promise<() => Promise<void>>

export class LocalTransferer implements Transferer {
  readonly #images: Pick<ImagePool, 'find'>
  readonly #pool: string
  readonly #userKeyring: string
  readonly #vendorKeyring: string
  readonly #streams = new Map<JobContext, StreamInput | undefined>()
  readonly #ready: Promise<void>

  constructor(options: LocalTransfererOptions) {
    this.#images = options.images
    this.#pool = options.poolPath ?? '/var/lib/machines'
    this.#userKeyring = options.userKeyring ?? USER_KEYRING_PATH
    this.#vendorKeyring = options.vendorKeyring ?? VENDOR_KEYRING_PATH
    this.#ready = options.ready ?? Promise.resolve()
  }

  start(spec: TransferSpec, sink: TransferSink): TransferJob {
    const job = new JobContext(sink)
    const done = this.#run(job, spec)
    return { cancel: (hard) => job.cancel(hard), done }
  }

  async #run(job: JobContext, spec: TransferSpec): Promise<void> {
    // The caller gets the transfer's id before its first log line (importd's tool is a process of its own).
    await new Promise((r) => setImmediate(r))
    await this.#ready
    let lock: ImageLock | undefined
    let exiting = false
    let finished = false
    // A pipe read through a socket is the socket's to close; any other fd is ours.
    this.#streams.set(job, undefined)
    try {
      let work: () => Promise<void>
      if (isExport(spec)) {
        work = await this.#exportSetup(spec)(job)
      } else {
        lock = await this.#claimName(job, spec.local ?? '')
        work = await this.#setup(job, spec)
      }
      exiting = spec.type !== 'import-fs'
      await work()
      finished = true
    } catch (err) {
      if (!(err instanceof TransferFailed) && !job.cancelled) job.error(`Failed to transfer image: ${errnoText(err)}`)
      throw err
    } finally {
      await job.cleanUp(finished)
      await lock?.release().catch(() => undefined)
      const stream = this.#streams.get(job)
      this.#streams.delete(job)
      if (stream !== undefined) stream.destroy()
      else if ('fd' in spec) closeFd(spec.fd)
      if (exiting) job.info('Exiting.')
    }
  }

  /** The name an import or pull makes is ours until it is done (image_name_lock()), and must be free unless --force. */
  async #claimName(job: JobContext, local: string): Promise<ImageLock> {
    await mkdir(this.#pool, { recursive: true, mode: 0o700 })
    let lock: ImageLock
    try {
      lock = await lockImageName(local)
    } catch (err) {
      throw job.fail(`Failed to lock image name '${local}': ${errnoText(err)}`)
    }
    return lock
  }

  async #checkFree(job: JobContext, local: string, force: boolean): Promise<void> {
    if (force) return
    if ((await this.#images.find(local)) !== undefined) throw job.fail(`Image '${local}' already exists.`)
  }

  #setup(job: JobContext, spec: Exclude<TransferSpec, ExportSpec>): Promise<() => Promise<void>> {
    switch (spec.type) {
      case 'import-tar':
      case 'import-raw':
      case 'import-fs':
        return this.#importSetup(job, spec)
      case 'pull-tar':
      case 'pull-raw':
        return (async () => {
          await this.#checkFree(job, spec.local!, spec.force)
          job.info(`Pulling '${spec.url}', saving as '${spec.local!}'.`)
          return async () => {
            await pull(job, { type: spec.type === 'pull-tar' ? 'tar' : 'raw', url: spec.url, local: spec.local!, verify: spec.verify, force: spec.force, readOnly: spec.readOnly }, {
              pool: this.#pool, userKeyring: this.#userKeyring, vendorKeyring: this.#vendorKeyring,
            })
            job.info('Operation completed successfully.')
          }
        })()
    }
  }

  async #importSetup(job: JobContext, spec: Extract<TransferSpec, { type: 'import-tar' | 'import-raw' | 'import-fs' }>): Promise<() => Promise<void>> {
    await this.#checkFree(job, spec.local, spec.force)
    const pathPromise = readlink(`/proc/self/fd/${spec.fd}`).catch(() => '')
    const inputPromise = spec.type === 'import-fs' ? undefined : this.#input(spec.fd, job.signal)
    job.info(`Importing '${await pathPromise}', saving as '${spec.local}'.`)
    const install = { replace: spec.force, readOnly: spec.readOnly }
    if (spec.type === 'import-fs') {
      return async () => {
        const final = join(this.#pool, spec.local)
        const temp = await makeTempTree(job, final)
        try {
          await runJobTool(job, 'cp', ['-a', '--reflink=auto', '--', `/proc/self/fd/3/.`, `${temp}/`], { extraFds: [spec.fd] })
        } catch (err) {
          throw job.fail(job.cancelled ? 'Copy cancelled.' : `Failed to copy directory: ${(err as Error).message}`)
        }
        await mangleOsTree(job, temp)
        await installImage(job, temp, final, install).catch((err: unknown) => { throw job.fail(`Failed install directory as '${final}': ${errnoText(err)}`) })
        job.info(`Directory '${final} successfully installed. Exiting.`)
      }
    }
    const input = await inputPromise!
    if (input.kind === 'stream') this.#streams.set(job, input)
    return async () => {
      if (spec.type === 'import-tar') {
        const final = join(this.#pool, spec.local)
        const temp = await makeTempTree(job, final)
        await extractTar(job, input, temp, { mknod: true, progressPrefix: 'Imported' })
        await mangleOsTree(job, temp)
        await installImage(job, temp, final, install).catch((err: unknown) => { throw job.fail(`Failed to move '${final}' into place: ${errnoText(err)}`) })
      } else {
        const final = join(this.#pool, `${spec.local}.raw`)
        const { temp, written } = await writeRawImage(job, input, final, 'Imported')
        await installImage(job, temp, final, install).catch((err: unknown) => { throw job.fail(`Failed to move image into place: ${errnoText(err)}`) })
        job.info(`Wrote ${formatBytes(written)}.`)
      }
      job.info('Operation completed successfully.')
    }
  }

  /** A regular file is read by the tools themselves; a pipe flows through the daemon. */
  async #input(fd: number, signal: AbortSignal): Promise<TransferInput> {
    const [st, info] = await Promise.all([fstatAsync(fd), readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '')])
    if (st.isFile()) {
      const pos = Number(/^pos:\s+(\d+)$/m.exec(info)?.[1] ?? 0)
      return new FileInput(fd, st.size, pos)
    }
    return new StreamInput(new Socket({ fd, readable: true, writable: false }), undefined, signal)
  }

  #exportSetup(spec: ExportSpec): Setup {
    return async (job) => {
      const format = spec.format === '' ? 'uncompressed' : exportFormatFromString(spec.format)
      if (format === undefined) throw job.fail(`Unknown format: ${spec.format}`)
      const image = await this.#images.find(spec.local)
      if (image === undefined) throw job.fail(`Machine image ${spec.local} not found.`)
      const out = await readlink(`/proc/self/fd/${spec.fd}`).catch(() => 'n/a')
      job.info(`Exporting '${image.path}', saving to '${out}' with compression '${format}'.`)
      // tar_export_start() opens a directory, raw_export_start() a regular file: anything else fails before the transfer.
      const tar = spec.type === 'export-tar'
      const mismatch = tar ? (image.type === 'raw' || image.type === 'block' ? 'Not a directory' : undefined)
        : image.type === 'raw' ? undefined : image.type === 'block' ? 'Invalid argument' : 'Is a directory'
      if (mismatch !== undefined) throw job.fail(`Failed to export image: ${mismatch}`)
      return async () => {
        if (tar) await createTar(job, image.path, spec.fd, format)
        else await exportRawImage(job, image.path, spec.fd, format)
        job.info('Operation completed successfully.')
      }
    }
  }
}
