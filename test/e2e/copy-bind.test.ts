// Into a running container's files, as admins reach them with the real
// tools: `machinectl copy-to`/`copy-from` (content, mode, owner; --force),
// `machinectl bind` (read-write, --read-only, --mkdir), `journalctl -M`
// (OpenMachineRootDirectory), `machinectl status` (OS, interface and
// addresses of a veth); bad input (relative paths, "..", a symlink
// pointing out of the guest, a missing file, an unknown machine, a VM)
// gives systemd's error and changes nothing; mctl does the same. One
// Debian guest, booted once by machined-spawn --network-veth, serves every
// test; a systemd-nspawn guest checks bind and copy-to there too.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { closeSync, readdirSync } from 'node:fs'
import { connect, FileExistsError, FileNotFoundError } from '../../src/client/index.ts'
import { eventually, REPO, Sandbox } from '../helpers/sandbox.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { guestExec, machineLeader, SpawnRun, waitBooted } from '../helpers/spawn.ts'
import { callManager, registerMachine } from '../helpers/busctl.ts'
import { NspawnRun } from '../helpers/nspawn.ts'
import { vethName } from '../../src/spawn/veth.ts'

const MCTL = [process.execPath, join(REPO, 'bin/mctl.js')]

void describe('copy, bind, root directory and status of a machined-spawn container', { timeout: 600_000 }, () => {
  let sb: Sandbox
  let tree: OverlayTree
  let run: SpawnRun
  let name: string
  let leader: number
  let host: string
  /** A path inside the guest as the host reaches it. */
  const inGuest = (p: string): string => `/proc/${leader}/root${p}`

  before(async () => {
    const cached = await debianTree()
    sb = await Sandbox.start()
    tree = await OverlayTree.create(sb, cached)
    name = sb.name('cp-guest')
    run = SpawnRun.start(sb, ['-D', tree.path, '-M', name, '-b', '-q', '--network-veth'])
    leader = await machineLeader(sb, name)
    assert.match(await waitBooted(sb, leader), /^(running|degraded)$/)
    host = mkdtempSync('/tmp/cp-host-')
  })

  after(async () => {
    if (run !== undefined && run.child.exitCode === null) {
      try { process.kill(run.managerPid(), 'SIGTERM') } catch { /* gone */ }
      await Promise.race([run.exited, new Promise((r) => setTimeout(r, 10_000))])
    }
    tree?.remove()
    await sb?.stop()
    if (host !== undefined) rmSync(host, { recursive: true, force: true })
  })

  const machinectl = (...args: string[]): ReturnType<Sandbox['exec']> => sb.exec(['machinectl', ...args], { timeoutMs: 60_000 })

  it('copy-to and copy-from round-trip a file with its content, mode and owner', async () => {
    const src = join(host, 'src.txt')
    writeFileSync(src, 'hello from the host\n')
    chmodSync(src, 0o640)
    chownSync(src, 4242, 4343)
    const to = await machinectl('copy-to', name, src, '/root/in.txt')
    assert.equal(to.code, 0, to.stderr)
    assert.equal(readFileSync(inGuest('/root/in.txt'), 'utf8'), 'hello from the host\n')
    const st = statSync(inGuest('/root/in.txt'))
    assert.equal(st.mode & 0o7777, 0o640)
    assert.deepEqual([st.uid, st.gid], [4242, 4343], 'no user namespace: owners kept')

    // The same through the machine's own object (Machine.CopyFrom).
    const path = `/org/freedesktop/machine1/machine/${name.replace(/-/g, '_2d')}`
    const viaObject = await sb.exec(['busctl', 'call', 'org.freedesktop.machine1', path, 'org.freedesktop.machine1.Machine', 'CopyFrom', 'ss', '/root/in.txt', join(host, 'obj.txt')])
    assert.equal(viaObject.code, 0, viaObject.stderr)
    assert.equal(readFileSync(join(host, 'obj.txt'), 'utf8'), 'hello from the host\n')

    const back = join(host, 'back.txt')
    const from = await machinectl('copy-from', name, '/root/in.txt', back)
    assert.equal(from.code, 0, from.stderr)
    assert.equal(readFileSync(back, 'utf8'), 'hello from the host\n')
    assert.equal(statSync(back).mode & 0o7777, 0o640)
  })

  it('copies directory trees (merging into what is there) and symlinks as symlinks', async () => {
    const dir = join(host, 'tree')
    mkdirSync(join(dir, 'sub'), { recursive: true })
    writeFileSync(join(dir, 'sub', 'a'), 'A')
    linkSync(join(dir, 'sub', 'a'), join(dir, 'hard'))
    symlinkSync('/etc/hostname', join(dir, 'link'))
    chmodSync(dir, 0o750)
    const r = await machinectl('copy-to', name, dir, '/srv/tree')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readFileSync(inGuest('/srv/tree/sub/a'), 'utf8'), 'A')
    assert.equal(statSync(inGuest('/srv/tree')).mode & 0o7777, 0o750)
    assert.ok(lstatSync(inGuest('/srv/tree/link')).isSymbolicLink())
    // Hard links within the tree stay hard links (COPY_HARDLINKS).
    assert.equal(statSync(inGuest('/srv/tree/hard')).ino, statSync(inGuest('/srv/tree/sub/a')).ino)
    // The destination directory exists now: a second copy merges (systemd's COPY_MERGE).
    writeFileSync(join(dir, 'b'), 'B')
    const again = await machinectl('copy-to', name, dir, '/srv/tree')
    assert.equal(again.code, 0, again.stderr)
    assert.equal(readFileSync(inGuest('/srv/tree/b'), 'utf8'), 'B')
  })

  it('a file in the way is "File exists" and stays; --force replaces it', async () => {
    const src = join(host, 'new.txt')
    writeFileSync(src, 'new')
    writeFileSync(inGuest('/root/old.txt'), 'old')
    const r = await machinectl('copy-to', name, src, '/root/old.txt')
    assert.equal(r.code, 1)
    assert.equal(r.stderr, 'Failed to copy: File exists\n')
    assert.equal(readFileSync(inGuest('/root/old.txt'), 'utf8'), 'old')
    const forced = await machinectl('copy-to', '--force', name, src, '/root/old.txt')
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(readFileSync(inGuest('/root/old.txt'), 'utf8'), 'new')
  })

  it('bad input gives systemd\'s errors and changes nothing', async () => {
    const src = join(host, 'bad.txt')
    writeFileSync(src, 'x')
    const cases: [string[], string][] = [
      [['copy-from', name, 'etc/hostname', join(host, 'h')], 'Failed to copy: Source path must be absolute.\n'],
      [['copy-to', name, src, 'root/rel.txt'], 'Failed to copy: Destination path must be absolute.\n'],
      [['copy-from', name, '/no/such/file', join(host, 'missing')], 'Failed to copy: No such file or directory\n'],
      [['copy-to', name, join(host, 'no-such-file'), '/root/x'], 'Failed to copy: No such file or directory\n'],
      [['copy-to', name, join(host, 'no-dir', 'x'), '/root/x'], `Failed to copy: Failed to open host directory ${host}/no-dir/x: No such file or directory\n`],
      [['copy-to', name, src, '/'], 'Failed to copy: Failed to extract file name of \'/\' path: Cannot assign requested address\n'],
      [['copy-to', 'cp-nosuch', src, '/root/x'], 'Failed to copy: No machine \'cp-nosuch\' known\n'],
      [['bind', name, 'rel/dir', '/mnt'], 'Failed to bind mount: Source path must be absolute and normalized.\n'],
      [['bind', name, `${host}/../etc`, '/mnt'], 'Failed to bind mount: Source path must be absolute and normalized.\n'],
      [['bind', name, host, '/mnt/../x'], 'Failed to bind mount: Destination path must be absolute and normalized.\n'],
      [['bind', name, host, '/no/such/dir'], `Failed to bind mount: Failed to mount ${host} on /no/such/dir in machine's namespace: No such file or directory\n`],
      [['bind', 'cp-nosuch', host, '/mnt'], 'Failed to bind mount: No machine \'cp-nosuch\' known\n'],
    ]
    for (const [args, stderr] of cases) {
      const r = await machinectl(...args)
      assert.deepEqual([r.code, r.stderr], [1, stderr], args.join(' '))
    }
    assert.ok(!existsSync(join(host, 'h')) && !existsSync(join(host, 'missing')) && !existsSync(inGuest('/root/x')))
    assert.ok(!existsSync(inGuest('/root/rel.txt')) && !existsSync(inGuest('/no/such/dir')))
  })

  it('".." and symlinks stop at the guest\'s root: nothing on the host is read or written', async () => {
    writeFileSync(join(host, 'secret'), 'host only')
    // A guest-owned symlink that would lead to the host directory if followed on the host.
    symlinkSync(`../../../../../../..${host}`, inGuest('/root/escape'))
    const src = join(host, 'payload')
    writeFileSync(src, 'p')
    const cases: [string[], string][] = [
      [['copy-from', name, `/../../../../..${host}/secret`, join(host, 'stolen1')], 'Failed to copy: No such file or directory\n'],
      [['copy-from', name, '/root/escape/secret', join(host, 'stolen2')], 'Failed to copy: No such file or directory\n'],
      [['copy-to', name, src, '/root/escape/planted'], 'Failed to copy: No such file or directory\n'],
      [['copy-to', name, src, `/../../../..${host}/planted`], 'Failed to copy: No such file or directory\n'],
    ]
    for (const [args, stderr] of cases) {
      const r = await machinectl(...args)
      assert.deepEqual([r.code, r.stderr], [1, stderr], args.join(' '))
    }
    for (const f of ['stolen1', 'stolen2', 'planted']) assert.ok(!existsSync(join(host, f)), f)
    // Copying the symlink itself copies a symlink, never what it points to.
    const r = await machinectl('copy-from', name, '/root/escape', join(host, 'escape-copy'))
    assert.equal(r.code, 0, r.stderr)
    assert.ok(lstatSync(join(host, 'escape-copy')).isSymbolicLink())
  })

  it('journalctl -M prints the guest\'s journal (OpenMachineRootDirectory)', async () => {
    const marker = `cp-marker-${process.pid}`
    const w = await guestExec(sb, leader, ['systemd-cat', '-t', 'cptest', 'echo', marker])
    assert.equal(w.code, 0, w.stderr)
    const r = await sb.exec(['journalctl', '-M', name, '-n', '5', '--no-pager'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`cptest\\[\\d+\\]: ${marker}`))
    assert.ok(r.stdout.trim().split('\n').length <= 6, r.stdout)
    // The host's journal is not what it read: the guest's machine ID names the files.
    const fd = await callManager(sb, 'OpenMachineRootDirectory', 's', name)
    assert.ok(fd.ok, fd.stderr)
    assert.match(fd.reply, /^h \d+$/)
  })

  it('Varlink OpenRootDirectory passes a directory fd of the guest\'s root to a client that is not ours', async () => {
    // Python's socket.recv_fds(): the fd names the guest's "/", whose machine-id is the guest's, not the host's.
    const script = [
      'import json, os, socket, sys',
      's = socket.socket(socket.AF_UNIX)',
      "s.connect('/run/systemd/machine/io.systemd.Machine')",
      "s.sendall(json.dumps({'method': 'io.systemd.Machine.OpenRootDirectory', 'parameters': {'name': sys.argv[1]}}).encode() + b'\\0')",
      'data, fds, _f, _a = socket.recv_fds(s, 65536, 4)',
      "mid = open(os.open('etc/machine-id', os.O_RDONLY, dir_fd=fds[0])).read().strip() if fds else ''",
      "print(json.dumps({'reply': json.loads(data.rstrip(b'\\0')), 'fds': len(fds), 'machineId': mid}))",
    ].join('\n')
    const r = await sb.exec(['python3', '-c', script, name])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { reply: { parameters?: { fileDescriptor?: number } }; fds: number; machineId: string }
    assert.deepEqual(out.reply.parameters, { fileDescriptor: 0 })
    assert.equal(out.fds, 1)
    assert.equal(out.machineId, readFileSync(inGuest('/etc/machine-id'), 'utf8').trim())
    assert.notEqual(out.machineId, readFileSync('/etc/machine-id', 'utf8').trim())
  })

  it('machinectl bind makes a host directory visible inside; --read-only and --mkdir', async () => {
    const share = join(host, 'share')
    mkdirSync(share)
    writeFileSync(join(share, 'file'), 'shared')
    const r = await machinectl('bind', '--mkdir', name, share, '/mnt/share')
    assert.equal(r.code, 0, r.stderr)
    const cat = await guestExec(sb, leader, ['cat', '/mnt/share/file'])
    assert.equal(cat.stdout, 'shared', cat.stderr)
    const touch = await guestExec(sb, leader, ['touch', '/mnt/share/from-guest'])
    assert.equal(touch.code, 0, touch.stderr)
    assert.ok(existsSync(join(share, 'from-guest')), 'read-write by default')

    const ro = await machinectl('bind', '--read-only', '--mkdir', name, share, '/mnt/ro')
    assert.equal(ro.code, 0, ro.stderr)
    assert.equal((await guestExec(sb, leader, ['cat', '/mnt/ro/file'])).stdout, 'shared')
    const denied = await guestExec(sb, leader, ['touch', '/mnt/ro/nope'])
    assert.notEqual(denied.code, 0)
    assert.ok(!existsSync(join(share, 'nope')))
    // Nothing is left on the host side: no playground, nothing in the propagation directory.
    const prop = sb.execSync(['ls', '-A', `/run/systemd/nspawn/propagate/${name}`])
    assert.deepEqual([prop.code, prop.stdout], [0, ''])
    assert.equal(sb.execSync(['sh', '-c', 'ls -d /tmp/propagate.* 2>/dev/null']).stdout, '', 'the playground')
    assert.ok(!sb.execSync(['cat', '/proc/self/mountinfo']).stdout.includes('/tmp/propagate.'))
  })

  it('machinectl status shows the guest\'s OS, its veth and the addresses of its private network', async () => {
    const ip = await sb.exec(['nsenter', '-t', String(leader), '-n', '--', 'ip', 'addr', 'add', '192.0.2.7/24', 'dev', 'host0'])
    assert.equal(ip.code, 0, ip.stderr)
    const iface = vethName(name)
    const r = await machinectl('status', name, '--no-pager')
    assert.match(r.stdout, /^\s+OS: Debian GNU\/Linux 12 \(bookworm\)$/m)
    assert.match(r.stdout, new RegExp(`^\\s+Iface: ${iface}$`, 'm'), 'the host end, registered as the machine\'s interface')
    assert.match(r.stdout, /^\s+Address: 192\.0\.2\.7$/m)
    // host0's own link-local address, which the kernel gave it when PID 1 brought it up.
    assert.match(r.stdout, /^\s+fe80::[0-9a-f:]+%\d+$/m)
    // The host's addresses are not the guest's.
    assert.doesNotMatch(r.stdout, /Address: 127\./)
    for (const transport of ['dbus', 'varlink']) {
      const ours = await sb.exec([...MCTL, `--transport=${transport}`, 'status', name])
      assert.match(ours.stdout, /^\s+OS: Debian GNU\/Linux 12 \(bookworm\)$/m, transport)
      assert.match(ours.stdout, /^\s+Address: 192\.0\.2\.7$/m, transport)
    }
  })

  it('a VM gets systemd\'s "not supported" for copies, binds and its root directory', async () => {
    const vm = sb.name('cp-vm')
    const l = await sb.spawnLeader()
    assert.ok((await registerMachine(sb, { name: vm, leader: l.pid!, cls: 'vm' })).ok)
    const src = join(host, 'bad.txt')
    const copy = await machinectl('copy-to', vm, src, '/x')
    assert.equal(copy.stderr, 'Failed to copy: Copying files is only supported on container machines.\n')
    const bind = await machinectl('bind', vm, host, '/x')
    assert.equal(bind.stderr, 'Failed to bind mount: Bind mounting is only supported on container machines.\n')
    const root = await callManager(sb, 'OpenMachineRootDirectory', 's', vm)
    assert.deepEqual([root.errorName, root.errorMessage], ['org.freedesktop.DBus.Error.NotSupported', 'Opening the root directory is only supported on container machines.'])
    const flags = await callManager(sb, 'CopyToMachineWithFlags', 'ssst', name, src, '/root/f', 2)
    assert.deepEqual([flags.errorName, flags.errorMessage], ['org.freedesktop.DBus.Error.InvalidArgs', 'Invalid argument'])
    l.kill('SIGKILL')
  })

  it('under a user namespace, copies belong to the container\'s root (copy-to) or the host\'s (copy-from); bind is refused', async () => {
    // A stand-in container: a process in its own user and mount namespaces, mapped as 0:100000:65536.
    const l = await sb.spawnLeader(['unshare', '--user', '--mount', 'sleep', '1000'])
    const pid = l.pid!
    const ownNs = readlinkSync('/proc/self/ns/user')
    await eventually(() => readlinkSync(`/proc/${pid}/ns/user`) !== ownNs && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep', 5000, 'the user namespace')
    writeFileSync(`/proc/${pid}/uid_map`, '0 100000 65536\n')
    writeFileSync(`/proc/${pid}/gid_map`, '0 100000 65536\n')
    const shifted = sb.name('cp-userns')
    assert.ok((await registerMachine(sb, { name: shifted, leader: pid, cls: 'container' })).ok)
    assert.equal((await machinectl('show', shifted, '-p', 'Name')).code, 0)
    const src = join(host, 'userns-src')
    writeFileSync(src, 'u')
    chownSync(src, 4242, 4343)
    let r = await machinectl('copy-to', shifted, src, join(host, 'userns-in'))
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual([statSync(join(host, 'userns-in')).uid, statSync(join(host, 'userns-in')).gid], [100000, 100000])
    chownSync(join(host, 'userns-in'), 100005, 100006)
    r = await machinectl('copy-from', shifted, join(host, 'userns-in'), join(host, 'userns-out'))
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual([statSync(join(host, 'userns-out')).uid, statSync(join(host, 'userns-out')).gid], [0, 0])
    r = await machinectl('bind', shifted, host, '/mnt')
    assert.deepEqual([r.code, r.stderr], [1, 'Failed to bind mount: Can\'t bind mount on container with user namespacing applied.\n'])
    l.kill('SIGKILL')
  })

  it('bind, copy-to and journalctl -M reach a systemd-nspawn container registered with machined-ts', async () => {
    const nsTree = await OverlayTree.create(sb)
    const nsName = sb.name('cp-nspawn')
    // nspawn shares its propagation directory only through the host's mount propagation: /run is shared where
    // systemd is PID 1, private in this sandbox. Make it shared here, as on such a host (machined-spawn needs not).
    assert.equal(sb.execSync(['mount', '--make-shared', '/run']).code, 0)
    const nspawn = NspawnRun.start(sb, nsTree.path, nsName)
    try {
      const nsLeader = await nspawn.leader()
      assert.match(await waitBooted(sb, nsLeader), /^(running|degraded)$/, nspawn.output.slice(-2000))
      // nspawn runs --register=no here (no systemd to make its scope): register its PID 1 as nspawn would.
      assert.ok((await registerMachine(sb, { name: nsName, leader: nsLeader, cls: 'container', service: 'nspawn' })).ok)
      const share = join(host, 'nspawn-share')
      mkdirSync(share)
      writeFileSync(join(share, 'f'), 'to nspawn')
      const bind = await machinectl('bind', '--mkdir', nsName, share, '/mnt/from-host')
      assert.equal(bind.code, 0, bind.stderr)
      assert.equal(readFileSync(`/proc/${nsLeader}/root/mnt/from-host/f`, 'utf8'), 'to nspawn')
      const copy = await machinectl('copy-to', nsName, join(share, 'f'), '/root/f')
      assert.equal(copy.code, 0, copy.stderr)
      assert.equal(readFileSync(`/proc/${nsLeader}/root/root/f`, 'utf8'), 'to nspawn')
      const journal = await sb.exec(['journalctl', '-M', nsName, '-n', '5', '--no-pager'])
      assert.equal(journal.code, 0, journal.stderr)
      assert.match(journal.stdout, new RegExp(` ${nsName} `))
    } finally {
      await nspawn.stop()
      nsTree.remove()
    }
  })

  for (const transport of ['dbus', 'varlink'] as const) {
    const mctl = (...args: string[]): ReturnType<Sandbox['exec']> => sb.exec([...MCTL, `--transport=${transport}`, ...args], { timeoutMs: 60_000 })

    it(`mctl over ${transport}: copy-to, copy-from (--force) and bind do what machinectl does`, async () => {
      const src = join(host, `m-${transport}.txt`)
      writeFileSync(src, `via ${transport}\n`)
      chmodSync(src, 0o604)
      const guestFile = `/root/m-${transport}.txt`
      let r = await mctl('copy-to', name, src, guestFile)
      assert.deepEqual([r.code, r.stderr], [0, ''])
      assert.equal(readFileSync(inGuest(guestFile), 'utf8'), `via ${transport}\n`)
      assert.equal(statSync(inGuest(guestFile)).mode & 0o7777, 0o604)
      // A relative host path is taken from the working directory, as machinectl does.
      r = await sb.exec(['sh', '-c', `cd ${host} && exec ${MCTL.join(' ')} --transport=${transport} copy-from ${name} ${guestFile} back-${transport}.txt`])
      assert.deepEqual([r.code, r.stderr], [0, ''])
      assert.equal(readFileSync(join(host, `back-${transport}.txt`), 'utf8'), `via ${transport}\n`)
      assert.equal(statSync(join(host, `back-${transport}.txt`)).mode & 0o7777, 0o604)

      writeFileSync(src, 'changed')
      r = await mctl('copy-to', name, src, guestFile)
      assert.deepEqual([r.code, r.stderr], [1, 'Failed to copy: File exists\n'])
      r = await mctl('--force', 'copy-to', name, src, guestFile)
      assert.deepEqual([r.code, r.stderr], [0, ''])
      assert.equal(readFileSync(inGuest(guestFile), 'utf8'), 'changed')

      const share = join(host, `share-${transport}`)
      mkdirSync(share)
      writeFileSync(join(share, 'f'), transport)
      r = await mctl('bind', '--read-only', '--mkdir', name, share, `/mnt/m-${transport}`)
      assert.deepEqual([r.code, r.stderr], [0, ''])
      assert.equal((await guestExec(sb, leader, ['cat', `/mnt/m-${transport}/f`])).stdout, transport)
      assert.notEqual((await guestExec(sb, leader, ['touch', `/mnt/m-${transport}/g`])).code, 0)
    })

    it(`mctl over ${transport}: bad input fails as machinectl fails, and changes nothing`, async () => {
      const src = join(host, 'bad.txt')
      writeFileSync(src, 'x')
      const cases = [
        ['copy-from', name, 'etc/hostname', join(host, 'h')],
        ['copy-from', name, '/no/such/file', join(host, 'missing')],
        ['copy-to', name, join(host, 'no-dir', 'x'), '/root/x'],
        ['copy-from', name, '/root/escape/secret', join(host, 'stolen3')],
        ['copy-to', 'cp-nosuch', src, '/root/x'],
        ['bind', name, host, '/no/such/dir'],
        ['bind', name, 'rel/dir', '/mnt'],
        ['bind', 'cp-nosuch', host, '/mnt'],
        ['copy-to', name],
      ]
      // A Varlink error carries a name and an errno, not systemd's sentence around it (docs/compat.md).
      const overVarlink = (s: string): string => transport === 'dbus' ? s : s.replace(/Failed to open host directory \S+: |Failed to mount \S+ on \S+ in machine's namespace: /, '')
      for (const args of cases) {
        const real = await machinectl(...args)
        const ours = await mctl(...args)
        assert.deepEqual([ours.code, ours.stderr], [real.code, overVarlink(real.stderr)], args.join(' '))
      }
      assert.ok(!existsSync(join(host, 'h')) && !existsSync(join(host, 'missing')) && !existsSync(join(host, 'stolen3')))
      assert.ok(!existsSync(inGuest('/root/x')) && !existsSync(inGuest('/no/such/dir')))
    })

    it(`the client library over ${transport}: copyTo, copyFrom, bind, openRootDirectory`, async () => {
      const machined = await connect({
        transport, busAddress: `unix:path=${sb.hostPath('/run/dbus/system_bus_socket')}`, varlinkSocket: sb.hostPath('/run/systemd/machine/io.systemd.Machine'),
      })
      try {
        const src = join(host, `sdk-${transport}`)
        writeFileSync(src, 'sdk')
        await machined.copyTo(name, src, { destination: `/root/sdk-${transport}` })
        await assert.rejects(machined.copyTo(name, src, { destination: `/root/sdk-${transport}` }), FileExistsError)
        await machined.copyTo(name, src, { destination: `/root/sdk-${transport}`, replace: true })
        await machined.copyFrom(name, `/root/sdk-${transport}`, { destination: `${src}-back` })
        assert.equal(readFileSync(`${src}-back`, 'utf8'), 'sdk')
        await assert.rejects(machined.copyFrom(name, '/no/such', { destination: `${src}-none` }), FileNotFoundError)
        const fd = await machined.openRootDirectory(name)
        try {
          // The guest's root, whatever the host has there.
          assert.ok(readdirSync(`/proc/self/fd/${fd}/root`).includes(`sdk-${transport}`))
          assert.equal(readFileSync(`/proc/self/fd/${fd}/etc/machine-id`, 'utf8'), readFileSync(inGuest('/etc/machine-id'), 'utf8'))
        } finally {
          closeSync(fd)
        }
      } finally {
        machined.close()
      }
    })
  }
})
