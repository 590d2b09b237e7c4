// The checks made before anything is registered: qemu in $PATH, readable
// kernel/initrd/image files, the disk format (the vsock device: vmspawn-vsock.test.ts).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkReadableFile, detectDiskFormat, findQemu, PreflightError } from '../../src/vmspawn/preflight.ts'

function failsWith(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PreflightError)
    if (typeof message === 'string') assert.equal(err.message, message)
    else assert.match(err.message, message)
    return true
  })
}

describe('preflight', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'vmspawn-pre-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  test('qemu is found in $PATH (qemu-system-x86_64 before qemu-kvm), executables only', () => {
    const a = join(dir, 'a')
    const b = join(dir, 'b')
    mkdirSync(a)
    mkdirSync(b)
    writeFileSync(join(a, 'qemu-kvm'), '#!/bin/sh\n')
    chmodSync(join(a, 'qemu-kvm'), 0o755)
    writeFileSync(join(b, 'qemu-system-x86_64'), 'not executable')
    assert.equal(findQemu(`${b}:${a}`), join(a, 'qemu-kvm'))
    chmodSync(join(b, 'qemu-system-x86_64'), 0o755)
    assert.equal(findQemu(`${a}:${b}`), join(b, 'qemu-system-x86_64'))
    failsWith(() => findQemu('/nonexistent'), 'qemu not found: none of qemu-system-x86_64, qemu-kvm is in $PATH (apt-get install qemu-system-x86)')
    failsWith(() => findQemu(''), /^qemu not found/)
  })

  test('kernel, initrd and image files', () => {
    const f = join(dir, 'vmlinuz')
    writeFileSync(f, 'x')
    checkReadableFile('kernel', f)
    failsWith(() => checkReadableFile('kernel', join(dir, 'missing')), `Cannot use kernel ${join(dir, 'missing')}: No such file or directory`)
    failsWith(() => checkReadableFile('initrd', dir), `Cannot use initrd ${dir}: Is a directory`)
    failsWith(() => checkReadableFile('kernel', '/dev/null'), 'Cannot use kernel /dev/null: Not a regular file')
  })

  test('qcow2 by its magic, anything else raw', () => {
    const q = join(dir, 'disk.img')
    writeFileSync(q, Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), Buffer.alloc(100)]))
    assert.equal(detectDiskFormat(q), 'qcow2')
    const r = join(dir, 'disk.raw')
    writeFileSync(r, Buffer.alloc(512))
    assert.equal(detectDiskFormat(r), 'raw')
    const tiny = join(dir, 'tiny')
    writeFileSync(tiny, 'QF')
    assert.equal(detectDiskFormat(tiny), 'raw')
    failsWith(() => detectDiskFormat(join(dir, 'none')), /^Cannot use image .*: No such file or directory$/)
  })
})
