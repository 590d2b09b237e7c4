/**
 * The import1 methods (importd.c's method_import_tar_or_raw(),
 * method_import_fs(), method_export_tar_or_raw(), method_pull_tar_or_raw(),
 * method_cancel_transfer()), transport-neutral: each checks what importd
 * 252 checks, in its order and with its words (rights, the fd's type, the
 * local name, the URL, the verify mode, a pull of the same URL under way,
 * the limit), then starts the transfer. The transport hands over the fd;
 * from then on it is the transfer's, or closed here when the call fails.
 * @module
 */

import { InvalidArgsError, NoSuchTransferError, TransferInProgressError } from '../protocol/errors.ts'
import { errnoFailure } from '../protocol/errno.ts'
import { localNameFromUrl, localNameIsValid, pullUrlIsValid, verifyModeFromString, type VerifyMode } from '../protocol/transfer.ts'
import { ACTIONS, type Authorizer, type Caller } from './authorization.ts'
import type { Transfer, Transfers } from './transfers.ts'

/** What kind of file an fd a caller passed is (fstat()'s S_IFMT, as far as imports care). */
export type FdKind = 'regular' | 'fifo' | 'directory' | 'other'

/** What the methods need besides the registry: rights, and a look at fds (the backend's fstat()). */
export interface TransferContext {
  readonly transfers: Transfers
  readonly authorizer: Authorizer
  fdKind(fd: number): Promise<FdKind>
  closeFd(fd: number): void
}

export interface ImportRequest {
  readonly type: 'import-tar' | 'import-raw' | 'import-fs'
  readonly fd: number
  readonly local: string
  readonly force: boolean
  readonly readOnly: boolean
}

export interface ExportRequest {
  readonly type: 'export-tar' | 'export-raw'
  readonly local: string
  readonly fd: number
  /** '' for the default (uncompressed); anything else is checked by the transfer, as systemd-export does. */
  readonly format: string
}

export interface PullRequest {
  readonly type: 'pull-tar' | 'pull-raw'
  readonly url: string
  /** '' to name the image after the URL's last component. */
  readonly local: string
  /** '' for signature. */
  readonly verify: string
  readonly force: boolean
  /** Not in importd 252's PullTar/PullRaw; Varlink's Pull has it. */
  readonly readOnly?: boolean
}

/** Runs `work` with the fd; closes it unless `work` handed it to a transfer. */
async function withFd(ctx: TransferContext, fd: number, work: () => Promise<Transfer>): Promise<Transfer> {
  try {
    return await work()
  } catch (err) {
    ctx.closeFd(fd)
    throw err
  }
}

function checkLocal(local: string): void {
  if (!localNameIsValid(local)) throw new InvalidArgsError(`Local name ${local} is invalid`, { parameter: 'local' })
}

export function importImage(ctx: TransferContext, request: ImportRequest, caller: Caller): Promise<Transfer> {
  return withFd(ctx, request.fd, async () => {
    ctx.authorizer.check(caller, ACTIONS.importImages)
    const kind = await ctx.fdKind(request.fd)
    if (request.type === 'import-fs') {
      // fd_verify_directory(): the errno itself, ENOTDIR.
      if (kind !== 'directory') throw errnoFailure('ENOTDIR', 'Not a directory')
    } else if (kind !== 'regular' && kind !== 'fifo') {
      throw new InvalidArgsError('Invalid argument', { parameter: 'fd' })
    }
    checkLocal(request.local)
    ctx.transfers.checkRoom()
    return ctx.transfers.start({ type: request.type, fd: request.fd, local: request.local, force: request.force, readOnly: request.readOnly })
  })
}

export function exportImage(ctx: TransferContext, request: ExportRequest, caller: Caller): Promise<Transfer> {
  return withFd(ctx, request.fd, async () => {
    ctx.authorizer.check(caller, ACTIONS.exportImages)
    checkLocal(request.local)
    const kind = await ctx.fdKind(request.fd)
    if (kind !== 'regular' && kind !== 'fifo') throw new InvalidArgsError('Invalid argument', { parameter: 'fd' })
    ctx.transfers.checkRoom()
    // systemd-export refuses an unknown format once running ("Unknown format: x"): the transfer says so.
    return ctx.transfers.start({ type: request.type, fd: request.fd, local: request.local, format: request.format })
  })
}

export function pullImage(ctx: TransferContext, request: PullRequest, caller: Caller): Transfer {
  ctx.authorizer.check(caller, ACTIONS.pullImages)
  if (!pullUrlIsValid(request.url)) throw new InvalidArgsError(`URL ${request.url} is invalid`, { parameter: 'remote' })
  let local = request.local
  if (local === '') {
    // importd 252 would only keep the download in its cache; ours installs it under the name machinectl derives.
    local = localNameFromUrl(request.type === 'pull-tar' ? 'tar' : 'raw', request.url) ?? ''
    if (local === '') throw new InvalidArgsError(`Cannot derive a local name from URL ${request.url}`, { parameter: 'local' })
  } else {
    checkLocal(local)
  }
  const verify: VerifyMode | undefined = request.verify === '' ? 'signature' : verifyModeFromString(request.verify)
  if (verify === undefined) throw new InvalidArgsError(`Unknown verification mode ${request.verify}`, { parameter: 'verify' })
  if (ctx.transfers.findByRemote(request.type, request.url) !== undefined) throw new TransferInProgressError(request.url)
  return ctx.transfers.start({ type: request.type, url: request.url, local, verify, force: request.force, readOnly: request.readOnly ?? false })
}

/** CancelTransfer(id). */
export function cancelTransferById(ctx: TransferContext, id: number, caller: Caller): void {
  ctx.authorizer.check(caller, ACTIONS.pullImages)
  if (id <= 0) throw new InvalidArgsError('Invalid transfer id', { parameter: 'id' })
  const t = ctx.transfers.get(id)
  if (t === undefined) throw new NoSuchTransferError(id)
  ctx.transfers.cancel(t)
}

/** Transfer.Cancel(). */
export function cancelTransfer(ctx: TransferContext, t: Transfer, caller: Caller): void {
  ctx.authorizer.check(caller, ACTIONS.pullImages)
  ctx.transfers.cancel(t)
}
