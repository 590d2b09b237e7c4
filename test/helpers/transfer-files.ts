/**
 * What the transfer tests import and pull, made fresh in a directory under
 * /var/tmp (which sandboxes see as it is): an OS tree and tarballs of it
 * (plain, gzip, xz, bzip2, zstd), a raw disk image (plain, xz, QCOW2),
 * hostile tarballs written with Python's tarfile (absolute names, "..",
 * a symlink out of the tree and a member behind it, an absolute hard
 * link, a device node, cut off mid-member, cut off between members, a cut
 * gzip stream), and a small HTTP server on 127.0.0.1 that serves files
 * from memory, or stalls.
 */

import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { writeOsFiles } from './image-pool.ts'

export interface TransferFiles {
  readonly dir: string
  /** The OS tree the tarballs hold. */
  readonly tree: string
  file(name: string): string
  read(name: string): Buffer
  dispose(): void
}

const HOSTILE = `
import gzip, io, os, sys, tarfile
def mk(name, members):
    with tarfile.open(name, 'w', format=tarfile.GNU_FORMAT) as t:
        for m in members:
            ti = tarfile.TarInfo(m['name']); ti.type = m.get('type', tarfile.REGTYPE); ti.linkname = m.get('link', '')
            ti.devmajor, ti.devminor = m.get('dev', (0, 0)); ti.mode = 0o644
            data = m.get('data', b'x')
            if ti.type == tarfile.REGTYPE:
                ti.size = len(data); t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
d = sys.argv[1]
ok = [{'name': 'usr/lib/os-release', 'data': b'ID=hostile\\n'}]
mk(d + '/abs.tar', ok + [{'name': '/etc/evil'}])
mk(d + '/dotdot.tar', ok + [{'name': 'a/../../evil'}])
mk(d + '/symesc.tar', ok + [{'name': 'esc', 'type': tarfile.SYMTYPE, 'link': '/tmp'}, {'name': 'esc/pwned'}])
mk(d + '/hardabs.tar', ok + [{'name': 'hl', 'type': tarfile.LNKTYPE, 'link': '/etc/passwd'}])
mk(d + '/dev.tar', ok + [{'name': 'dev/sda', 'type': tarfile.BLKTYPE, 'dev': (8, 0)}])
mk(d + '/big.tar', ok + [{'name': 'data', 'data': b'y' * 100000}])
# An absolute name first, then more than the daemon reads ahead: decoding must stop once tar is stopped.
mk(d + '/absbig.tar', [{'name': '/etc/evil'}, {'name': 'data', 'data': os.urandom(8 << 20)}])
open(d + '/absbig.tar.gz', 'wb').write(gzip.compress(open(d + '/absbig.tar', 'rb').read(), 1))
raw = open(d + '/big.tar', 'rb').read()
open(d + '/trunc.tar', 'wb').write(raw[:60000])
end = len(raw)
while end >= 512 and raw[end - 512:end] == bytes(512): end -= 512
open(d + '/noeof.tar', 'wb').write(raw[:end])
`

export function makeTransferFiles(): TransferFiles {
  const dir = mkdtempSync('/var/tmp/machined-ts-transfers-')
  const tree = join(dir, 'tree')
  writeOsFiles(tree, { id: 'transfer', version: '1', pretty: 'Transfer OS 1', hostname: 'xfer' })
  writeFileSync(join(tree, 'etc/motd'), 'hello from a tarball\n')
  const tar = (out: string, ...extra: string[]): void => { execFileSync('tar', ['--numeric-owner', '-C', tree, '-cf', join(dir, out), ...extra, '.']) }
  tar('t.tar')
  tar('t.tar.gz', '--gzip')
  tar('t.tar.xz', '--xz')
  tar('t.tar.bz2', '--bzip2')
  tar('t.tar.zst', '--zstd')
  // A disk image with data at both ends and a hole between them.
  const disk = Buffer.alloc(3 << 20)
  disk.write('raw disk start', 0)
  disk.write('raw disk end', disk.length - 4096)
  writeFileSync(join(dir, 'disk.raw'), disk)
  execFileSync('xz', ['-k', '-T1', join(dir, 'disk.raw')])
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(dir, 'disk.raw'), join(dir, 'disk.qcow2')])
  const py = spawnSync('python3', ['-c', HOSTILE, dir], { encoding: 'utf8' })
  if (py.status !== 0) throw new Error(`making the hostile tarballs failed: ${py.stderr}`)
  const gz = readFileSync(join(dir, 't.tar.gz'))
  writeFileSync(join(dir, 'cut.tar.gz'), gz.subarray(0, gz.length - 20))
  return {
    dir, tree,
    file: (name) => join(dir, name),
    read: (name) => readFileSync(join(dir, name)),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/**
 * A file the server serves; 'stall': headers and then nothing, until the
 * client goes away; `partial`: the file's Content-Length, and then only
 * its first half.
 */
export type Served = Buffer | 'stall' | { readonly partial: Buffer }

export interface FileServer {
  readonly url: string
  serve(path: string, content: Served): void
  close(): Promise<void>
}

/** An HTTP server on 127.0.0.1 (a port of its own) with files from memory; anything else is 404. */
export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, Served>()
  const stalled = new Set<import('node:http').ServerResponse>()
  const server: Server = createServer((req, res) => {
    const content = files.get(req.url ?? '')
    if (content === undefined) { res.writeHead(404); res.end(); return }
    if (content === 'stall') { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.flushHeaders(); stalled.add(res); return }
    if (!Buffer.isBuffer(content)) {
      res.writeHead(200, { 'content-length': content.partial.length })
      res.write(content.partial.subarray(0, content.partial.length >> 1))
      stalled.add(res)
      return
    }
    res.writeHead(200, { 'content-length': content.length })
    res.end(content)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    serve: (path, content) => { files.set(path, content) },
    close: async () => {
      for (const res of stalled) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A signing key of its own (gpg, in a throwaway home): signs files, and exports the public keyring gpgv checks with. */
export interface SigningKey {
  sign(data: Buffer): Buffer
  readonly publicKeyring: Buffer
  dispose(): void
}

export function makeSigningKey(): SigningKey {
  const home = mkdtempSync('/var/tmp/machined-ts-gpg-')
  const env = { ...process.env, GNUPGHOME: home }
  execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', 'machined-ts test <test@example.invalid>', 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' })
  const publicKeyring = execFileSync('gpg', ['--batch', '--export'], { env })
  mkdirSync(join(home, 'sig'), { recursive: true })
  return {
    publicKeyring,
    sign: (data) => execFileSync('gpg', ['--batch', '--quiet', '--detach-sign', '--output', '-'], { env, input: data }),
    dispose: () => {
      spawnSync('gpgconf', ['--kill', 'all'], { env, stdio: 'ignore' })
      rmSync(home, { recursive: true, force: true })
    },
  }
}
