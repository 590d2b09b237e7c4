/**
 * Pulls (systemd-pull's pull-tar.c and pull-raw.c, with pull-common.c's
 * verification): the image is downloaded and unpacked as it arrives,
 * into a temporary tree or file of the pool; next to it come the
 * checksum file (FILE.sha256, else SHA256SUMS), the signature
 * (SHA256SUMS.gpg) and the settings file (NAME.nspawn), at most 1 MiB
 * each. Only once everything checks out is the image installed under its
 * name; until then nothing but the temporary copy exists, and that goes
 * whenever the pull does not finish.
 *
 * Unlike systemd 252, no second, hidden copy of the download is kept in
 * the pool (".tar-URL\\ETAG"): a pull always downloads, and the image is
 * what it installs (docs/compat.md).
 * @module
 */

import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { copyFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes } from '../protocol/bytes.ts'
import { rawStripSuffixes, tarStripSuffixes, urlChangeLastComponent, urlLastComponent, type VerifyMode } from '../protocol/transfer.ts'
import { AUXILIARY_MAX, IMAGE_MAX, openUrl, watchDownload } from './transfer-fetch.ts'
import { StreamInput } from './transfer-input.ts'
import { installImage, makeTempTree, mangleOsTree, tempPathFor } from './transfer-install.ts'
import type { JobContext } from './transfer-job.ts'
import { writeRawImage } from './transfer-raw.ts'
import { extractTar } from './transfer-tar.ts'
import { checksumListed, isChecksumFile, isSignatureFile, keyringPath, verifySignature } from './transfer-verify.ts'

export interface PullRequest {
  readonly type: 'tar' | 'raw'
  readonly url: string
  readonly local: string
  readonly verify: VerifyMode
  readonly force: boolean
  readonly readOnly: boolean
}

export interface PullPlaces {
  readonly pool: string
  readonly userKeyring: string
  readonly vendorKeyring: string
}

/** A small file fetched next to the image. */
interface Auxiliary {
  readonly url: string
  readonly data: Buffer
}

/** Fetches a checksum, signature or settings file; undefined (having logged why) when it cannot be had. */
async function fetchAuxiliary(job: JobContext, url: string, quiet404 = false): Promise<Auxiliary | undefined> {
  const res = await openUrl(job, url).catch(() => undefined)
  if (res === undefined) return undefined
  if (res.status !== 200 || res.body === undefined) {
    if (!(quiet404 && res.status === 404)) job.error(`HTTP request to ${url} failed with code ${res.status}.`)
    return undefined
  }
  if (res.length !== undefined && res.length > AUXILIARY_MAX) {
    res.body.destroy()
    job.error('Content too large.')
    return undefined
  }
  if (res.length !== undefined) job.info(`Downloading ${formatBytes(res.length)} for ${url}.`)
  const data = await new StreamInput(res.body).readAll(AUXILIARY_MAX).catch(() => undefined)
  if (data === undefined) {
    if (!job.cancelled) job.error('File overly large, refusing.')
    return undefined
  }
  job.info(`Acquired ${formatBytes(data.length)}.`)
  job.info(`Download of ${url} complete.`)
  return { url, data }
}

/** The checksum file: FILE.sha256, else SHA256SUMS (pull_job_restart_with_sha256sum()). */
async function fetchChecksums(job: JobContext, url: string, name: string | undefined): Promise<Auxiliary | undefined> {
  if (name !== undefined) {
    const perFile = urlChangeLastComponent(url, `${name}.sha256`)
    const got = perFile === undefined ? undefined : await fetchAuxiliary(job, perFile, true)
    if (got !== undefined) return got
    job.debug(`Got 404 for ${perFile}, now trying to get SHA256SUMS instead.`)
  }
  const sums = urlChangeLastComponent(url, 'SHA256SUMS')
  return sums === undefined ? undefined : fetchAuxiliary(job, sums)
}

/** verify_one(): the download's SHA256 must be listed for its file name. */
function verifyOne(job: JobContext, sums: Buffer, url: string, hash: string): void {
  const name = urlLastComponent(url)
  if (name === undefined || name.includes('/') || name === '.' || name === '..') throw job.fail('Cannot verify checksum, could not determine server-side file name.')
  if (isChecksumFile(name) || isSignatureFile(name)) throw job.fail('Cannot verify checksum/signature files via themselves.')
  if (!checksumListed(sums, hash, name)) throw job.fail(`DOWNLOAD INVALID: Checksum of ${name} file did not check out, file has been tampered with.`)
  job.info(`SHA256 checksum of ${url} is valid.`)
}

/** Downloads, verifies and installs; throws TransferFailed, having said why. */
export async function pull(job: JobContext, request: PullRequest, places: PullPlaces): Promise<void> {
  const { url, verify } = request
  const name = urlLastComponent(url)
  if (verify !== 'no' && isSignatureFile(name)) throw job.fail('Main download is a signature file, can\'t verify it.')
  if (verify !== 'no' && isChecksumFile(name)) throw job.fail('Main download is a checksum file, can\'t verify it.')
  const stripped = name === undefined ? undefined : request.type === 'tar' ? tarStripSuffixes(name) : rawStripSuffixes(name)
  const settingsUrl = stripped === undefined ? undefined : urlChangeLastComponent(url, `${stripped}.nspawn`)
  const settle = (p: Promise<Auxiliary | undefined>): Promise<Auxiliary | undefined> => p.catch(() => undefined)
  const checksums = verify === 'no' ? undefined : settle(fetchChecksums(job, url, name))
  const signature = verify === 'signature' ? urlChangeLastComponent(url, 'SHA256SUMS.gpg') : undefined
  const signatureJob = signature === undefined ? undefined : settle(fetchAuxiliary(job, signature))
  const settings = settingsUrl === undefined ? Promise.resolve(undefined) : settle(fetchAuxiliary(job, settingsUrl)).then((s) => {
    if (s === undefined && !job.cancelled) job.info('Settings file could not be retrieved, proceeding without.')
    return s
  })
  // tar_pull_report_progress(): the image is 85% of the work, minus 5% for each file fetched next to it.
  const imageShare = 85 - 5 * (1 + (checksums === undefined ? 0 : 1) + (signatureJob === undefined ? 0 : 1))

  const res = await openUrl(job, url)
  if (res.status !== 200 || res.body === undefined) {
    job.error(`HTTP request to ${url} failed with code ${res.status}.`)
    throw job.fail('Failed to retrieve image file.')
  }
  if (res.length !== undefined && res.length > IMAGE_MAX) throw job.fail('Content too large.')
  if (res.length !== undefined) job.info(`Downloading ${formatBytes(res.length)} for ${url}.`)
  const hash = createHash('sha256')
  let lastPercent = -1
  let lastSaid = 0
  const watch = watchDownload(job, url, res.length, IMAGE_MAX, (total) => {
    if (res.length === undefined || res.length === 0) return
    const percent = Math.floor((total * 100) / res.length)
    if (percent === lastPercent) return
    lastPercent = percent
    job.sink.progress(Math.floor((percent * imageShare) / 100))
    if (Date.now() - lastSaid >= 1000 && percent < 100) { lastSaid = Date.now(); job.info(`Got ${percent}% of ${url}.`) }
  })
  const input = new StreamInput(res.body, (chunk) => { hash.update(chunk); watch.observe(chunk) }, job.signal)
  const final = join(places.pool, request.type === 'tar' ? request.local : `${request.local}.raw`)
  let temp: string
  try {
    if (request.type === 'tar') {
      temp = await makeTempTree(job, final)
      // A download is nobody's own file: it makes no device nodes (tar without CAP_MKNOD).
      await extractTar(job, input, temp, { mknod: false })
    } else {
      temp = (await writeRawImage(job, input, final)).temp
    }
  } finally {
    watch.stop()
  }
  watch.finish()
  if (watch.failure !== undefined) throw watch.failure
  job.info(`Acquired ${formatBytes(input.transferred)}.`)
  job.info(`Download of ${url} complete.`)
  const settingsFile = await settings

  if (verify !== 'no') {
    job.sink.progress(85)
    const sums = await checksums
    if (sums === undefined) throw job.fail('Failed to retrieve SHA256 checksum, cannot verify. (Try --verify=no?)')
    if (sums.data.length === 0) throw job.fail('Checksum is empty, cannot verify.')
    verifyOne(job, sums.data, url, hash.digest('hex'))
    if (settingsFile !== undefined) verifyOne(job, sums.data, settingsFile.url, createHash('sha256').update(settingsFile.data).digest('hex'))
    if (verify === 'signature') {
      // SHA256SUMS is signed by SHA256SUMS.gpg; FILE.sha256 inline.
      const perDirectory = urlLastComponent(sums.url) === 'SHA256SUMS'
      const sig = perDirectory ? await signatureJob : undefined
      if (perDirectory && sig === undefined) throw job.fail('Failed to retrieve signature file, cannot verify. (Try --verify=no?)')
      if (sig !== undefined && sig.data.length === 0) throw job.fail('Signature is empty, cannot verify.')
      if (!perDirectory) await signatureJob
      const ok = await verifySignature(job, await keyringPath(places.userKeyring, places.vendorKeyring), sums.data, sig?.data)
      if (!ok) throw job.fail('DOWNLOAD INVALID: Signature verification failed.')
      job.info('Signature verification succeeded.')
    }
  }

  job.sink.progress(90)
  if (request.type === 'tar') await mangleOsTree(job, temp)
  job.sink.progress(95)
  await installImage(job, temp, final, { replace: request.force, readOnly: request.readOnly })
  job.info(`Created new local image '${request.local}'.`)
  if (settingsFile !== undefined) await installSettings(job, settingsFile.data, join(places.pool, `${request.local}.nspawn`), request.force)
}

/** The settings file goes next to the image (copy_file_atomic(), replacing one only with --force). */
async function installSettings(job: JobContext, data: Buffer, path: string, force: boolean): Promise<void> {
  const temp = tempPathFor(path)
  try {
    await writeFile(temp, data, { mode: 0o664, flag: 'wx' })
    await copyFile(temp, path, force ? 0 : constants.COPYFILE_EXCL)
    job.info(`Created new settings file ${path}.`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') job.warning(`Settings file ${path} already exists, not replacing.`)
    else job.warning(`Failed to copy settings files ${path}, ignoring: ${(err as Error).message}`)
  } finally {
    await unlink(temp).catch(() => undefined)
  }
}
