/**
 * Finding a machine image by name as systemd 252 does (discover-image.c:
 * image_find()), for every layer that needs it: the daemon's image pool
 * and the launchers that run a machine from the pool (`machined-spawn -M
 * NAME` without `-D`, as systemd-nspawn looks it up; `machined-vmspawn -M
 * NAME`). One scan of the search path off the JavaScript thread
 * (native/addon/images_scan.c).
 * @module
 */

import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { imageNameIsValid } from '../protocol/image.ts'
import { scanSearchPath, type ScannedEntry } from '../native/images.ts'

/** systemd 252's search path for machine images, in order. */
export const MACHINE_SEARCH_PATH = ['/etc/machines', '/run/machines', '/var/lib/machines', '/var/lib/container', '/usr/local/lib/machines', '/usr/lib/machines'] as const

/** Where vendor images live (IMAGE_IS_VENDOR(): under /usr, read-only whatever their files say). */
export const VENDOR_ROOTS = ['/usr'] as const

/** Whether `path` is `root` or below it. */
export function isUnder(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => path === r || path.startsWith(r.endsWith('/') ? r : `${r}/`))
}

/**
 * image_find(): the entry of the first directory of the search path that
 * has NAME (a directory, subvolume or block device: anything else there
 * ends the look in that directory) or NAME.raw. undefined when there is
 * none, or the name is no valid image name. ".host" is not looked for
 * here: it is the host's root, never an entry.
 */
export async function findImageEntry(searchPath: readonly string[], name: string): Promise<ScannedEntry | undefined> {
  if (!imageNameIsValid(name)) return undefined
  const entries = await scanSearchPath(searchPath, [name, `${name}.raw`])
  const dirs = [...new Set(entries.map((e) => e.dir))]
  for (const dir of dirs) {
    const here = entries.filter((e) => e.dir === dir)
    const plain = here.find((e) => e.file === name)
    if (plain !== undefined) {
      if (plain.type === 'directory' || plain.type === 'subvolume' || plain.type === 'block') return plain
      continue
    }
    const raw = here.find((e) => e.file === `${name}.raw` && e.type === 'raw')
    if (raw !== undefined) return raw
  }
  return undefined
}

/**
 * The image of the search path that `path` (absolute, symlinks resolved)
 * is, if it is one: image_find() must find NAME (a tree) or NAME.raw (a
 * raw image) at that very place. What a launcher run with -D, -i or
 * --image registers as the image it runs from.
 */
export async function imageAtPath(path: string, raw: boolean): Promise<{ readonly name: string; readonly path: string } | undefined> {
  const name = raw ? basename(path).replace(/\.raw$/, '') : basename(path)
  const entry = await findImageEntry(MACHINE_SEARCH_PATH, name).catch(() => undefined)
  if (entry === undefined) return undefined
  const found = join(entry.dir, entry.file)
  return existsSync(found) && realpathSync(found) === path ? { name, path: found } : undefined
}

/** What makes an entry read-only in systemd's eyes: a vendor image, a read-only mount, or the entry's own flag or mode. */
export function entryIsReadOnly(e: ScannedEntry, vendorRoots: readonly string[] = VENDOR_ROOTS): boolean {
  return isUnder(`${e.dir}/${e.file}`, vendorRoots) || e.erofs || e.readOnly
}

/** A VM's direct boot from files beside its raw image (docs/images.md): NAME.vmlinuz, and NAME.initrd and NAME.cmdline if there. */
export interface VmBootFiles {
  readonly kernel: string
  readonly initrd: string | undefined
  /** The kernel command line (NAME.cmdline, one line; trailing white space dropped). */
  readonly cmdline: string | undefined
}

/** Largest NAME.cmdline read: the kernel's own COMMAND_LINE_SIZE on x86 is 2048. */
const MAX_CMDLINE = 4096

/**
 * The rule by which an image of the pool is a VM rather than a container:
 * a raw image (NAME.raw) with a kernel beside it, NAME.vmlinuz. Anything
 * else runs as a container (nspawn's --image= for raw images).
 */
export function vmBootFiles(image: { readonly type: string; readonly path: string }): VmBootFiles | undefined {
  if (image.type !== 'raw' || !image.path.endsWith('.raw')) return undefined
  const base = image.path.slice(0, -'.raw'.length)
  const file = (suffix: string): string | undefined => {
    const path = `${base}${suffix}`
    return statSync(path, { throwIfNoEntry: false })?.isFile() === true ? path : undefined
  }
  const kernel = file('.vmlinuz')
  if (kernel === undefined) return undefined
  const cmdlineFile = file('.cmdline')
  let cmdline: string | undefined
  if (cmdlineFile !== undefined) {
    const text = readFileSync(cmdlineFile, 'utf8')
    if (text.length > MAX_CMDLINE) throw new Error(`${cmdlineFile} is longer than ${MAX_CMDLINE} bytes`)
    cmdline = text.split('\n')[0]!.trimEnd()
  }
  return { kernel, initrd: file('.initrd'), cmdline }
}
