/**
 * Path checks machined applies to what callers send (systemd's
 * basic/path-util.c: path_is_absolute, path_is_valid, path_is_normalized,
 * path_extract_filename, path_extract_directory), as pure functions.
 * @module
 */

import { utf8Encode } from './utf8.ts'

/** PATH_MAX and NAME_MAX on Linux. */
const PATH_MAX = 4096
const NAME_MAX = 255

export function pathIsAbsolute(p: string): boolean {
  return p.startsWith('/')
}

/** path_is_valid(): not empty, no NUL, shorter than PATH_MAX, every component at most NAME_MAX bytes. */
export function pathIsValid(p: string): boolean {
  if (p === '' || p.includes('\0') || utf8Encode(p).length >= PATH_MAX) return false
  return p.split('/').every((c) => utf8Encode(c).length <= NAME_MAX)
}

/** path_is_normalized(): valid, and no "." or ".." components and no "//" (a trailing "/" is fine). */
export function pathIsNormalized(p: string): boolean {
  if (!pathIsValid(p)) return false
  if (p.includes('//')) return false
  return p.split('/').every((c) => c !== '.' && c !== '..')
}

/** The errno names path_extract_filename() fails with. */
export type PathErrno = 'EINVAL' | 'EADDRNOTAVAIL'

/** Components without the empty ones and "." (path_find_last_component() skips those). */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.')
}

/**
 * path_extract_filename(): the last component, trailing slashes ignored.
 * The root directory has none (EADDRNOTAVAIL); ".." is no file name (EINVAL).
 * The errno comes apart from the name: a file may well be called "EINVAL".
 */
export function pathExtractFilename(p: string): { readonly name: string } | { readonly errno: PathErrno } {
  if (!pathIsValid(p)) return { errno: 'EINVAL' }
  const last = components(p).at(-1)
  if (last === undefined) return { errno: 'EADDRNOTAVAIL' }
  return last === '..' ? { errno: 'EINVAL' } : { name: last }
}

/** path_extract_directory() for an absolute path that has a file name: everything before the last component. */
export function pathExtractDirectory(p: string): string {
  const parts = components(p)
  parts.pop()
  return `/${parts.join('/')}`
}
