/**
 * A machine image pool for tests, the same every time: built in a fresh
 * directory under /var/tmp (ext4 on the test machines), which a Sandbox
 * then bind-mounts over /var/lib/machines, so the host's own pool is
 * never touched. It holds a directory image with an OS in it (alpha), an
 * empty one (beta), a hidden one (.hidden), a read-only one
 * (frozen: FS_IMMUTABLE_FL), a raw GPT disk with an ext4 root file system
 * and an OS (os.raw), a raw file without a file system that is
 * read-only by its mode (rodisk.raw), and things that are no images
 * (notes.txt, `.#partial`). writableImages() adds a vendor image
 * (/usr/lib/machines/vendor1) and one in /etc/machines inside the sandbox.
 */

import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Sandbox } from './sandbox.ts'

export const ALPHA_MACHINE_ID = '0123456789abcdef0123456789abcdef'
export const OS_RAW_MACHINE_ID = 'fedcba9876543210fedcba9876543210'

/** An OS tree's identity files under `root`. */
export function writeOsFiles(root: string, o: { id: string; version: string; pretty: string; hostname?: string; machineId?: string; machineInfo?: string }): void {
  mkdirSync(join(root, 'etc'), { recursive: true })
  mkdirSync(join(root, 'usr/lib'), { recursive: true })
  writeFileSync(join(root, 'usr/lib/os-release'), `ID=${o.id}\nVERSION_ID=${o.version}\nPRETTY_NAME="${o.pretty}"\n`)
  // An absolute link, as distributions ship it: it must resolve inside the image.
  symlinkSync('/usr/lib/os-release', join(root, 'etc/os-release'))
  if (o.hostname !== undefined) writeFileSync(join(root, 'etc/hostname'), `${o.hostname}\n`)
  if (o.machineId !== undefined) writeFileSync(join(root, 'etc/machine-id'), `${o.machineId}\n`)
  if (o.machineInfo !== undefined) writeFileSync(join(root, 'etc/machine-info'), o.machineInfo)
}

/** A GPT disk image with one x86-64 root partition holding an ext4 file system made from `tree` (util-linux's sfdisk, e2fsprogs' mke2fs -d). */
export function makeGptImage(path: string, tree: string): void {
  // Written out, not sparse: a copy is then the same size whoever makes it (systemd 252 fills holes, cp keeps them).
  writeFileSync(path, Buffer.alloc(8 << 20))
  const label = 'label: gpt\nstart=2048, size=12288, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n'
  const r = spawnSync('sfdisk', ['--quiet', path], { input: label, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`sfdisk failed: ${r.stderr}`)
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'offset=1048576,root_owner=0:0,nodiscard', '-U', '11111111-2222-3333-4444-555555555555', '-d', tree, path, '6M'])
}

export interface TestPool {
  readonly dir: string
  dispose(): void
}

export function makeTestPool(): TestPool {
  const dir = mkdtempSync('/var/tmp/machined-ts-pool-')
  writeOsFiles(join(dir, 'alpha'), {
    id: 'debian', version: '12', pretty: 'Debian GNU/Linux 12 (bookworm)', hostname: 'alphahost', machineId: ALPHA_MACHINE_ID,
    machineInfo: 'PRETTY_HOSTNAME="Alpha"\nDEPLOYMENT=test\n',
  })
  writeFileSync(join(dir, 'alpha/etc/motd'), 'hello\n')
  mkdirSync(join(dir, 'beta'))
  mkdirSync(join(dir, '.hidden'))
  mkdirSync(join(dir, 'frozen'))
  execFileSync('chattr', ['+i', join(dir, 'frozen')])
  const tree = mkdtempSync('/var/tmp/machined-ts-rawtree-')
  try {
    writeOsFiles(tree, { id: 'rawos', version: '7', pretty: 'Raw OS 7', hostname: 'rawhost', machineId: OS_RAW_MACHINE_ID })
    makeGptImage(join(dir, 'os.raw'), tree)
  } finally {
    rmSync(tree, { recursive: true, force: true })
  }
  writeFileSync(join(dir, 'rodisk.raw'), Buffer.alloc(12288, 0x5a))
  chmodSync(join(dir, 'rodisk.raw'), 0o444)
  writeFileSync(join(dir, 'notes.txt'), 'not an image\n')
  mkdirSync(join(dir, '.#partial'))
  return { dir, dispose: () => removePool(dir) }
}

/** Removes a test pool, immutable directories included. */
export function removePool(dir: string): void {
  spawnSync('chattr', ['-R', '-i', dir], { stdio: 'ignore' })
  rmSync(dir, { recursive: true, force: true })
}

/** Images outside the pool, inside the sandbox (its /etc and /usr/lib are overlays): a vendor image and a linked-in one. */
export function writableImages(sb: Sandbox): void {
  const r = sb.execSync(['sh', '-c', 'mkdir -p /usr/lib/machines/vendor1 /etc/machines/etcimg && mkdir -p /etc/systemd/nspawn'])
  if (r.code !== 0) throw new Error(`setting up images in the sandbox failed: ${r.stderr}`)
}

export interface ImageWorld {
  readonly pool: TestPool
  readonly sb: Sandbox
  stop(): Promise<void>
}

/** A sandbox over a fresh test pool, with the images outside it (writableImages()); stop() removes both. */
export async function imageSandbox(daemonArgs: string[] = []): Promise<ImageWorld> {
  const pool = makeTestPool()
  const sb = await Sandbox.start({ daemonArgs, images: { pool: pool.dir, writable: ['/etc', '/usr/lib'] } })
  writableImages(sb)
  return {
    pool, sb,
    stop: async () => {
      await sb.stop()
      pool.dispose()
    },
  }
}
