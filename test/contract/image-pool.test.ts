// The ImagePool contract (image-pool.case.ts) against FakeImagePool and
// against LocalImagePool on fresh directories under /var/tmp (a pool and a
// "vendor" directory searched after it, their own lock and settings
// directories: nothing of the host's /run or /var/lib/machines is used).
// Raw disks are GPT images with an ext4 root made by sfdisk and mke2fs.
import { constants } from 'node:fs'
import { mkdirSync, mkdtempSync, writeFileSync, chmodSync, existsSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalImagePool } from '../../src/backends/image-pool.ts'
import { lockImagePath } from '../../src/native/image-lock.ts'
import { FS_IMMUTABLE_FL, setFileAttributes } from '../../src/native/images.ts'
import { FakeImagePool } from '../fakes/image-pool.ts'
import { makeGptImage, removePool, writeOsFiles } from '../helpers/image-pool.ts'
import { runContract } from './contract.ts'
import { imagePoolCases, type ImageOs, type ImagePoolHarness } from './image-pool.case.ts'

const osFiles = (os: ImageOs) => ({ id: 'contract', version: '1', pretty: os.pretty, hostname: os.hostname, machineId: os.machineId })

runContract('ImagePool: FakeImagePool', imagePoolCases, async (): Promise<ImagePoolHarness> => {
  const pool = new FakeImagePool()
  return {
    pool,
    add: async (name, o = {}) => {
      const os = o.os === undefined ? {} : { metadata: { hostname: o.os.hostname, machineId: o.os.machineId, osRelease: [['PRETTY_NAME', o.os.pretty] as const] } }
      pool.add(name, { type: o.type ?? 'directory', dir: o.vendor === true ? 1 : 0, readOnly: o.readOnly === true, bytes: BigInt(o.bytes ?? 4096), ...os })
    },
    lock: async (name, mode) => {
      const path = (await pool.find(name))!.path
      pool.locks.set(path, mode === 'exclusive' ? -1 : 1)
      return async () => { pool.locks.delete(path) }
    },
    writePoolFile: async (file) => { pool.poolFiles.add(file) },
    hasPoolFile: async (file) => pool.poolFiles.has(file),
    dispose: async () => undefined,
  }
}, 'fake')

runContract('ImagePool: LocalImagePool', imagePoolCases, async (): Promise<ImagePoolHarness> => {
  const root = mkdtempSync('/var/tmp/machined-ts-contract-')
  const dirs = { pool: join(root, 'pool'), vendor: join(root, 'vendor'), locks: join(root, 'locks'), run: join(root, 'run-nspawn') }
  for (const d of [dirs.pool, dirs.vendor]) mkdirSync(d)
  const pool = new LocalImagePool({
    poolPath: dirs.pool, searchPath: [dirs.pool, dirs.vendor], vendorRoots: [dirs.vendor], hostRoot: '/',
    lockDir: dirs.locks, runSettingsDir: dirs.run, mountDir: join(root, 'mounts'),
  })
  return {
    pool,
    add: async (name, o = {}) => {
      const dir = o.vendor === true ? dirs.vendor : dirs.pool
      if (o.type === 'raw') {
        const path = join(dir, `${name}.raw`)
        if (o.os === undefined) {
          writeFileSync(path, Buffer.alloc(o.bytes ?? 4096, 1))
        } else {
          const tree = join(root, `tree-${name}`)
          writeOsFiles(tree, osFiles(o.os))
          makeGptImage(path, tree)
        }
        if (o.readOnly === true) chmodSync(path, 0o444)
        return
      }
      const path = join(dir, name)
      mkdirSync(path)
      if (o.os !== undefined) writeOsFiles(path, osFiles(o.os))
      if ((o.bytes ?? 0) > 0) writeFileSync(join(path, 'data'), Buffer.alloc(o.bytes!, 1))
      if (o.readOnly === true) {
        const file = await open(path, constants.O_RDONLY | constants.O_DIRECTORY)
        try { setFileAttributes(file.fd, FS_IMMUTABLE_FL, FS_IMMUTABLE_FL) } finally { await file.close() }
      }
    },
    lock: async (name, mode) => {
      const lock = await lockImagePath((await pool.find(name))!.path, mode, { lockDir: dirs.locks })
      return () => lock.release()
    },
    writePoolFile: async (file) => writeFileSync(join(dirs.pool, file), ''),
    hasPoolFile: async (file) => existsSync(join(dirs.pool, file)),
    dispose: async () => removePool(root),
  }
}, 'real')
