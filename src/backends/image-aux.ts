/**
 * The files that belong to an image without being in it (discover-image.c:
 * image_settings_path(), image_roothash_path()): NAME.nspawn settings in
 * /run/systemd/nspawn and next to the image, and NAME.roothash next to
 * it. Removing, renaming and cloning an image take them along, as
 * systemd does, except the administrator's own settings in
 * /etc/systemd/nspawn: those are never removed, renamed or copied by an
 * image operation (systemd#15900: `machinectl remove` deleting them).
 * Failures here are ignored, as there: the image itself is what counts.
 * @module
 */

import { constants } from 'node:fs'
import { copyFile, link, lstat, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export interface AuxDirs {
  /** nspawn's runtime settings (/run/systemd/nspawn). */
  readonly runSettings: string
}

/** The auxiliary files of image `name` at `path` that image operations manage, each with the suffix it carries. */
function auxFiles(name: string, path: string, dirs: AuxDirs): { file: string; suffix: string }[] {
  const here = dirname(path)
  return [
    { file: join(dirs.runSettings, `${name}.nspawn`), suffix: '.nspawn' },
    { file: join(here, `${name}.nspawn`), suffix: '.nspawn' },
    { file: join(here, `${name}.roothash`), suffix: '.roothash' },
  ]
}

/**
 * rename_noreplace() for files: link() fails when the target exists, so
 * no file of the new name is ever replaced; where hard links are not
 * possible (EPERM), a rename after checking the target is not there.
 */
export async function renameNoReplace(from: string, to: string): Promise<void> {
  try {
    await link(from, to)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
    if (await lstat(to).then(() => true, () => false)) throw Object.assign(new Error(`EEXIST: file already exists, rename '${from}' -> '${to}'`), { code: 'EEXIST' })
    await rename(from, to)
    return
  }
  await unlink(from)
}

export async function removeAuxFiles(name: string, path: string, dirs: AuxDirs): Promise<void> {
  for (const { file } of auxFiles(name, path, dirs)) await unlink(file).catch(() => undefined)
}

/** rename_noreplace() of each file to the new name, in its own directory. */
export async function renameAuxFiles(name: string, path: string, newName: string, dirs: AuxDirs): Promise<void> {
  for (const { file, suffix } of auxFiles(name, path, dirs)) {
    const target = join(dirname(file), `${newName}${suffix}`)
    await renameNoReplace(file, target).catch(() => undefined)
  }
}

/** copy_file_atomic() of each file to the new name, in its own directory, never replacing one. */
export async function cloneAuxFiles(name: string, path: string, newName: string, dirs: AuxDirs): Promise<void> {
  for (const { file, suffix } of auxFiles(name, path, dirs)) {
    await copyFile(file, join(dirname(file), `${newName}${suffix}`), constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE).catch(() => undefined)
  }
}

