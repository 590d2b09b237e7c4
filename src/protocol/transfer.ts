/**
 * Transfers (systemd-importd's vocabulary, importd.c and import-util.c):
 * their types, verification modes and export formats, the limit on how
 * many run at once, their object paths, and the rules for URLs and the
 * names derived from them that machinectl, importd and systemd-pull share.
 * @module
 */

import { hostnameIsValid } from './hostname.ts'

export const IMPORT1_BUS_NAME = 'org.freedesktop.import1'
export const IMPORT1_PATH = '/org/freedesktop/import1'
export const TRANSFER_PATH_PREFIX = `${IMPORT1_PATH}/transfer`

/** transfer_type_table[], in systemd's order. */
export const TRANSFER_TYPES = ['import-tar', 'import-raw', 'import-fs', 'export-tar', 'export-raw', 'pull-tar', 'pull-raw'] as const
export type TransferType = (typeof TRANSFER_TYPES)[number]

/** import_verify_table[]. */
export const VERIFY_MODES = ['no', 'checksum', 'signature'] as const
export type VerifyMode = (typeof VERIFY_MODES)[number]

/**
 * What an export may be compressed with: systemd-export's --format=
 * values, and zstd, which systemd 252 does not know (newer systemd does).
 */
export const EXPORT_FORMATS = ['uncompressed', 'xz', 'gzip', 'bzip2', 'zstd'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

/** TRANSFERS_MAX: transfers under way at once; one more is E2BIG. */
export const TRANSFERS_MAX = 64

/** How a finished transfer ended (TransferRemoved's result). */
export type TransferResult = 'done' | 'canceled' | 'failed'

/** What Progress and ListTransfers say while nothing is known: -DBL_MAX. */
export const PROGRESS_UNKNOWN = -Number.MAX_VALUE

export function transferObjectPath(id: number): string {
  return `${TRANSFER_PATH_PREFIX}/_${id}`
}

/** The id of a transfer object's path (transfer_object_find()): "_N" with N a u32 above 0. */
export function transferIdOfLabel(label: string): number | undefined {
  if (!/^_[0-9]+$/.test(label)) return undefined
  const id = Number(label.slice(1))
  return id > 0 && id <= 0xffff_ffff ? id : undefined
}

export function verifyModeFromString(s: string): VerifyMode | undefined {
  return (VERIFY_MODES as readonly string[]).includes(s) ? (s as VerifyMode) : undefined
}

export function exportFormatFromString(s: string): ExportFormat | undefined {
  return (EXPORT_FORMATS as readonly string[]).includes(s) ? (s as ExportFormat) : undefined
}

/** Local names of images are machine names: hostname_is_valid(name, 0). */
export function localNameIsValid(name: string): boolean {
  return hostnameIsValid(name)
}

function asciiPrintable(s: string): boolean {
  // ascii_is_valid(): any 7-bit character but NUL.
  // eslint-disable-next-line no-control-regex -- ascii_is_valid() takes control characters too, all but NUL
  return /^[\x01-\x7f]*$/.test(s)
}

/** http_url_is_valid(): http:// or https:// and something after it, ASCII only. */
export function httpUrlIsValid(url: string): boolean {
  const rest = url.startsWith('http://') ? url.slice(7) : url.startsWith('https://') ? url.slice(8) : undefined
  return rest !== undefined && rest !== '' && asciiPrintable(rest)
}

/** file_url_is_valid(): file:/ and something after it, ASCII only. */
export function fileUrlIsValid(url: string): boolean {
  return url.startsWith('file:/') && url.length > 6 && asciiPrintable(url.slice(6))
}

export function pullUrlIsValid(url: string): boolean {
  return httpUrlIsValid(url) || fileUrlIsValid(url)
}

/** skip_protocol_and_hostname(): the offset after "scheme:", slashes and the host; undefined when there is none. */
function pathStart(url: string): number | undefined {
  const colon = url.indexOf(':')
  if (colon <= 0) return undefined
  let d = colon + 1
  while (url[d] === '/') d++
  let n = 0
  while (d + n < url.length && !'/?#'.includes(url[d + n]!)) n++
  return n === 0 ? undefined : d + n
}

/** The URL without query and fragment, and where its path starts. */
function cutUrl(url: string): { h: number; e: number } | undefined {
  const h = pathStart(url)
  if (h === undefined) return undefined
  let e = h
  while (e < url.length && url[e] !== '?' && url[e] !== '#') e++
  while (e > h && url[e - 1] === '/') e--
  return { h, e }
}

/**
 * import_url_last_component(): the last non-empty path component, query
 * and fragment ignored; undefined for a URL without one.
 */
export function urlLastComponent(url: string): string | undefined {
  const cut = cutUrl(url)
  if (cut === undefined) return undefined
  let p = cut.e
  while (p > cut.h && url[p - 1] !== '/') p--
  return cut.e <= p ? undefined : url.slice(p, cut.e)
}

/** import_url_change_last_component(): the URL with its last component replaced by `name`, query and fragment dropped. */
export function urlChangeLastComponent(url: string, name: string): string | undefined {
  const cut = cutUrl(url)
  if (cut === undefined) return undefined
  let e = cut.e
  while (e > cut.h && url[e - 1] !== '/') e--
  while (e > cut.h && url[e - 1] === '/') e--
  return `${url.slice(0, e)}/${name}`
}

/** tar_strip_suffixes(): NAME.tar, .tar.xz, .tar.gz, .tar.bz2, .tgz → NAME (and .tar.zst, which newer systemd knows). */
export function tarStripSuffixes(name: string): string {
  for (const suffix of ['.tar', '.tar.xz', '.tar.gz', '.tar.bz2', '.tgz', '.tar.zst']) {
    if (name.endsWith(suffix) && name.length > suffix.length) return name.slice(0, -suffix.length)
  }
  return name
}

/** raw_strip_suffixes(): every one of .xz .gz .bz2 .raw .qcow2 .img .bin (and .zst) at the end, repeatedly. */
export function rawStripSuffixes(name: string): string {
  let s = name
  for (;;) {
    let changed = false
    for (const suffix of ['.xz', '.gz', '.bz2', '.zst', '.raw', '.qcow2', '.img', '.bin']) {
      if (s.endsWith(suffix)) {
        s = s.slice(0, -suffix.length)
        changed = true
      }
    }
    if (!changed) return s
  }
}

/** The local name a pull of `url` gets when none is given (what machinectl derives from the URL). */
export function localNameFromUrl(type: 'tar' | 'raw', url: string): string | undefined {
  const last = urlLastComponent(url)
  if (last === undefined) return undefined
  const name = type === 'tar' ? tarStripSuffixes(last) : rawStripSuffixes(last)
  return localNameIsValid(name) ? name : undefined
}

/** Export formats machinectl picks from the file name it writes to (determine_compression_from_filename()). */
export function exportFormatFromFileName(path: string): ExportFormat | undefined {
  if (path.endsWith('.xz')) return 'xz'
  if (path.endsWith('.gz')) return 'gzip'
  if (path.endsWith('.bz2')) return 'bzip2'
  if (path.endsWith('.zst')) return 'zstd'
  return undefined
}

/** One row of ListTransfers (a(usssdo)). */
export interface TransferRecord {
  readonly id: number
  readonly type: TransferType
  readonly remote: string
  readonly local: string
  /** 0…1, or PROGRESS_UNKNOWN. */
  readonly progress: number
  readonly path: string
}
