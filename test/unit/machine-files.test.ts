// Copies, bind mounts and root directories as the core decides them
// (against fake ports): systemd 252's checks in its order and with its
// messages (machine-dbus.c bus_machine_method_copy/bind_mount/
// open_root_directory), root-only access to host paths, OPERATIONS_MAX
// with "Too many ongoing copies.", the UID shift handed to the copy; and
// the pure pieces: path checks (path-util.c), the helper's failure line,
// errno → error, the progress line mctl draws and where it looks to draw it.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import {
  AccessDeniedError, FailedError, FileExistsError, FileNotFoundError, InvalidArgsError, NoSuchMachineError, NotSupportedError,
  TooManyOperationsError,
} from '../../src/protocol/errors.ts'
import { errnoError } from '../../src/protocol/errno.ts'
import { pathExtractDirectory, pathExtractFilename, pathIsNormalized, pathIsValid } from '../../src/protocol/path.ts'
import {
  bindMountIntoMachine, bindMountPaths, copyFileNames, copyFlagsReplace, copyMachineFiles, copyPaths, openMachineRootDirectory,
} from '../../src/core/machine-files.ts'
import { Manager } from '../../src/core/manager.ts'
import { registerMachine } from '../../src/core/register.ts'
import type { Caller } from '../../src/core/authorization.ts'
import { createFakePorts, type FakePorts } from '../fakes/ports.ts'
import { parseHelperFailure } from '../../src/backends/machine-files.ts'
import { formatBytes, formatProgress } from '../../src/cli/progress.ts'
import { guestPath, treeSize } from '../../src/cli/host/tree-size.ts'
import { rejectsWith, throwsWith } from '../helpers/manager-fixtures.ts'

const ROOT: Caller = { uid: 0, pid: 999 }
const OWNER: Caller = { uid: 1000, pid: 5000 }

async function world(options: { maxOperations?: number; cls?: string } = {}): Promise<{ ports: FakePorts; manager: Manager }> {
  const ports = createFakePorts({ allowUserRegistration: true })
  const manager = new Manager(ports, { maxMachines: 10, ...(options.maxOperations === undefined ? {} : { maxOperations: options.maxOperations }) })
  ports.processes.spawn(4605, { uid: 1000 })
  await registerMachine(manager, {
    name: 'c', id: new Uint8Array(0), service: 'svc', class: options.cls ?? 'container', leader: 4605, rootDirectory: '/srv/c',
    netifs: undefined, allocateUnit: true, scopeProperties: [],
  }, OWNER)
  return { ports, manager }
}

const copy = (source: string, destination = '', flags = 0n, direction: 'from' | 'to' = 'to') => ({ direction, source, destination, flags })

void describe('path checks (path-util.c)', () => {
  void test('path_is_valid and path_is_normalized', () => {
    assert.equal(pathIsValid(''), false)
    assert.equal(pathIsValid(`/${'a'.repeat(256)}`), false)
    assert.equal(pathIsValid(`/${'a'.repeat(255)}`), true)
    assert.equal(pathIsValid('/a\0b'), false)
    for (const p of ['/a/b', '/a/b/', '/']) assert.equal(pathIsNormalized(p), true, p)
    for (const p of ['/a/../b', '/a/./b', '/a//b', '/..', '/a/.']) assert.equal(pathIsNormalized(p), false, p)
  })

  void test('path_extract_filename and path_extract_directory', () => {
    assert.deepEqual(pathExtractFilename('/a/b'), { name: 'b' })
    assert.deepEqual(pathExtractFilename('/a/b/'), { name: 'b' })
    assert.deepEqual(pathExtractFilename('/a/b/.'), { name: 'b' })
    assert.deepEqual(pathExtractFilename('/a/EINVAL'), { name: 'EINVAL' })
    assert.deepEqual(pathExtractFilename('/'), { errno: 'EADDRNOTAVAIL' })
    assert.deepEqual(pathExtractFilename('//'), { errno: 'EADDRNOTAVAIL' })
    assert.deepEqual(pathExtractFilename('/a/..'), { errno: 'EINVAL' })
    assert.equal(pathExtractDirectory('/a/b/c'), '/a/b')
    assert.equal(pathExtractDirectory('/a'), '/')
    assert.equal(pathExtractDirectory('/../x'), '/..')
  })
})

void describe('what a copy or bind mount asks for', () => {
  void test('copy: absolute paths, the destination defaults to the source, sides by direction', () => {
    assert.deepEqual(copyPaths(copy('/h/f')), { direction: 'to', hostPath: '/h/f', containerPath: '/h/f' })
    assert.deepEqual(copyPaths(copy('/c/f', '/h/g', 0n, 'from')), { direction: 'from', hostPath: '/h/g', containerPath: '/c/f' })
    assert.throws(() => copyPaths(copy('rel')), new InvalidArgsError('Source path must be absolute.'))
    assert.throws(() => copyPaths(copy('/h/f', 'rel')), new InvalidArgsError('Destination path must be absolute.'))
  })

  void test('copy: both sides need a file name; they are cleaned to directory/name', () => {
    assert.deepEqual(copyFileNames({ hostPath: '/h/f/', containerPath: '/../etc/./x' }), { hostPath: '/h/f', containerPath: '/../etc/x' })
    assert.deepEqual(copyFileNames({ hostPath: '/f', containerPath: '/g' }), { hostPath: '/f', containerPath: '/g' })
    // A file may be named like an errno.
    assert.deepEqual(copyFileNames({ hostPath: '/h/EINVAL', containerPath: '/EADDRNOTAVAIL' }), { hostPath: '/h/EINVAL', containerPath: '/EADDRNOTAVAIL' })
    assert.throws(() => copyFileNames({ hostPath: '/h/f', containerPath: '/' }), new FailedError('Failed to extract file name of \'/\' path: Cannot assign requested address'))
    assert.throws(() => copyFileNames({ hostPath: '/h/..', containerPath: '/x' }), new InvalidArgsError('Failed to extract file name of \'/h/..\' path: Invalid argument'))
  })

  void test('copy flags: only MACHINE_COPY_REPLACE', () => {
    assert.equal(copyFlagsReplace(0n), false)
    assert.equal(copyFlagsReplace(1n), true)
    assert.throws(() => copyFlagsReplace(2n), new InvalidArgsError('Invalid argument'))
  })

  void test('bind: absolute and normalized; through nspawn\'s propagation directory', () => {
    assert.deepEqual(bindMountPaths({ source: '/srv/x', destination: '', readOnly: false, mkdir: false }, 'web'), {
      source: '/srv/x', destination: '/srv/x', propagateDir: '/run/systemd/nspawn/propagate/web', incomingDir: '/run/host/incoming',
    })
    assert.throws(() => bindMountPaths({ source: '/a/../b', destination: '', readOnly: false, mkdir: false }, 'web'),
      new InvalidArgsError('Source path must be absolute and normalized.'))
    assert.throws(() => bindMountPaths({ source: '/a', destination: 'b', readOnly: false, mkdir: false }, 'web'),
      new InvalidArgsError('Destination path must be absolute and normalized.'))
  })
})

void describe('the Manager reaching into a container', () => {
  void test('copy: checks in systemd\'s order, then one operation with the UID shift', async () => {
    const { ports, manager } = await world()
    throwsWith(() => manager.get('nope'), NoSuchMachineError, 'No machine \'nope\' known')
    await rejectsWith(copyMachineFiles(manager, manager.get('.host'), copy('/h/f'), ROOT), NotSupportedError, 'Copying files is only supported on container machines.')
    await rejectsWith(copyMachineFiles(manager, manager.get('c'), copy('/h/f', '', 4n), ROOT), InvalidArgsError, 'Invalid argument')
    // Bad paths are refused before authorisation, as in systemd; the root directory as a target after it.
    await rejectsWith(copyMachineFiles(manager, manager.get('c'), copy('h'), OWNER), InvalidArgsError, 'Source path must be absolute.')
    await rejectsWith(copyMachineFiles(manager, manager.get('c'), copy('/h/f'), OWNER), AccessDeniedError, 'Permission denied')
    await rejectsWith(copyMachineFiles(manager, manager.get('c'), copy('/h/f', '/'), ROOT), FailedError, 'Failed to extract file name of \'/\' path: Cannot assign requested address')
    assert.equal(ports.files.copies.length, 0)

    ports.inspector.maps = { uidMap: '0 100000 65536\n', gidMap: '0 100000 65536\n' }
    await copyMachineFiles(manager, manager.get('c'), copy('/c/f/', '/h/g', 1n, 'from'), ROOT)
    assert.deepEqual(ports.files.copies.map(({ leader, ...rest }) => ({ pid: leader.pid, ...rest })), [
      { pid: 4605, direction: 'from', hostPath: '/h/g', containerPath: '/c/f', uidShift: 100000, replace: true },
    ])
  })

  void test('copies are operations: at the cap the next is "Too many ongoing copies."', async () => {
    const { ports, manager } = await world({ maxOperations: 1 })
    let open: () => void = () => undefined
    ports.files.copy = () => new Promise<void>((resolve) => { open = resolve })
    const first = copyMachineFiles(manager, manager.get('c'), copy('/h/f'), ROOT)
    await new Promise((r) => setImmediate(r))
    assert.equal(manager.operations, 1)
    assert.equal(manager.operationsFull, true)
    // Even before the class is looked at (bus_machine_method_copy checks n_operations first).
    await rejectsWith(copyMachineFiles(manager, manager.get('.host'), copy('/h/f'), ROOT), TooManyOperationsError, 'Too many ongoing copies.')
    open()
    await first
    assert.equal(manager.operations, 0)
  })

  void test('a failed copy is the helper\'s error, unchanged', async () => {
    const { ports, manager } = await world()
    ports.files.failWith = new FileExistsError()
    await rejectsWith(copyMachineFiles(manager, manager.get('c'), copy('/h/f'), ROOT), FileExistsError, 'File exists')
  })

  void test('bind: class, paths, root only, no user namespace; failures are worded as systemd words them', async () => {
    const { ports, manager } = await world()
    await rejectsWith(bindMountIntoMachine(manager, manager.get('.host'), { source: '/a', destination: '', readOnly: false, mkdir: false }, ROOT), NotSupportedError,
      'Bind mounting is only supported on container machines.')
    await rejectsWith(bindMountIntoMachine(manager, manager.get('c'), { source: '/a', destination: '', readOnly: false, mkdir: false }, OWNER), AccessDeniedError, 'Permission denied')
    ports.files.failWith = errnoError('ENOENT', 'No such file or directory')
    await rejectsWith(bindMountIntoMachine(manager, manager.get('c'), { source: '/a', destination: '/b', readOnly: true, mkdir: false }, ROOT), FileNotFoundError,
      'Failed to mount /a on /b in machine\'s namespace: No such file or directory')
    ports.files.failWith = undefined
    await bindMountIntoMachine(manager, manager.get('c'), { source: '/a', destination: '/b', readOnly: true, mkdir: true }, ROOT)
    assert.deepEqual(ports.files.mounts.map(({ leader, ...rest }) => ({ pid: leader.pid, ...rest })), [{
      pid: 4605, source: '/a', destination: '/b', propagateDir: '/run/systemd/nspawn/propagate/c', incomingDir: '/run/host/incoming',
      readOnly: true, mkdir: true,
    }])
    ports.inspector.maps = { uidMap: '0 100000 65536\n', gidMap: '0 100000 65536\n' }
    await rejectsWith(bindMountIntoMachine(manager, manager.get('c'), { source: '/a', destination: '', readOnly: false, mkdir: false }, ROOT), NotSupportedError,
      'Can\'t bind mount on container with user namespacing applied.')
  })

  void test('root directory: the owner may open their container\'s; the host is "/"; a VM is not supported', async () => {
    const { ports, manager } = await world()
    assert.equal(typeof (await openMachineRootDirectory(manager, manager.get('c'), OWNER)), 'number')
    await rejectsWith(openMachineRootDirectory(manager, manager.get('.host'), OWNER), AccessDeniedError, 'Permission denied')
    await openMachineRootDirectory(manager, manager.get('.host'), ROOT)
    assert.deepEqual(ports.files.opened.map((l) => l?.pid), [4605, undefined])
    const vm = await world({ cls: 'vm' })
    await rejectsWith(openMachineRootDirectory(vm.manager, vm.manager.get('c'), ROOT), NotSupportedError, 'Opening the root directory is only supported on container machines.')
  })

  void test('root directory: not for the owner once the leader runs as somebody else (a setuid program it exec\'d)', async () => {
    const { ports, manager } = await world()
    // The same process (same start time) now runs as root: the kernel would no longer let its owner open /proc/4605/root.
    ports.processes.setUid(4605, 0)
    await rejectsWith(openMachineRootDirectory(manager, manager.get('c'), OWNER), AccessDeniedError, 'Permission denied')
    assert.deepEqual(ports.files.opened, [])
    await openMachineRootDirectory(manager, manager.get('c'), ROOT)
  })
})

void describe('the helper\'s answer and mctl\'s progress line', () => {
  void test('"<errno>\\t<stage>\\t<text>" → errno name; errno → error class', () => {
    assert.deepEqual(parseHelperFailure('2\thost-dir\tNo such file or directory\n'), { errnoName: 'ENOENT', stage: 'host-dir', text: 'No such file or directory' })
    assert.equal(parseHelperFailure('garbage'), undefined)
    assert.ok(errnoError('EEXIST', 'File exists') instanceof FileExistsError)
    assert.ok(errnoError('EOPNOTSUPP', 'x') instanceof NotSupportedError)
    const other = errnoError('ENOTDIR', 'Not a directory')
    assert.deepEqual([other.code, other.message], ['FAILED', 'Not a directory'])
  })

  void test('a bar with the percentage when the total is known, bytes and seconds otherwise; never wider than the terminal', () => {
    assert.equal(formatBytes(1023), '1023B')
    assert.equal(formatBytes(1536), '1.5K')
    assert.equal(formatBytes(5 * 1024 * 1024), '5.0M')
    const line = formatProgress('Copying', 512, 1024, 3000, 40)
    assert.equal(line, 'Copying [########.......]  50% 512B/1.0K')
    assert.ok(line.length <= 40)
    assert.equal(formatProgress('Copying', 2048, undefined, 3500, 80), 'Copying 2.0K (3s)')
    assert.equal(formatProgress('Copying', 4096, 1024, 0, 80).includes('100%'), true)
    assert.ok(formatProgress('Copying', 1, 2, 0, 10).length <= 10)
  })
})

void describe('where mctl looks to size a copy', () => {
  void test('a guest path through /proc/LEADER/root, given up on at a symlink on the way', async () => {
    const proc = mkdtempSync('/tmp/cp-proc-')
    try {
      mkdirSync(`${proc}/7/root/a/b`, { recursive: true })
      writeFileSync(`${proc}/7/root/a/b/f`, 'x'.repeat(10))
      writeFileSync(`${proc}/7/root/a/g`, 'y'.repeat(5))
      symlinkSync('/etc', `${proc}/7/root/a/esc`)
      assert.equal(await guestPath(7, '/a/b/f', proc), `${proc}/7/root/a/b/f`)
      assert.equal(await guestPath(7, '/a/missing/x', proc), `${proc}/7/root/a/missing/x`)
      assert.equal(await guestPath(7, '/a/esc/passwd', proc), undefined)
      assert.equal(await guestPath(7, '/a/esc', proc), `${proc}/7/root/a/esc`, 'the last component may be a symlink: it is copied as one')
      assert.equal(await guestPath(7, '/a/../x', proc), undefined)
      assert.equal(await treeSize(`${proc}/7/root/a`), 15, 'regular files only, symlinks not followed')
      assert.equal(await treeSize(`${proc}/7/root/none`), 0)
    } finally {
      rmSync(proc, { recursive: true, force: true })
    }
  })
})
