// Containers from the machine pool (issue 12, item 9): `machined-spawn -M
// NAME` without -D finds the image as systemd-nspawn does (a directory or
// a raw GPT disk), holds nspawn's lock on it for the run (so the image
// cannot be removed or renamed meanwhile, and systemd-nspawn and
// machined-spawn keep out of each other's way), and the machine's record
// says which image it runs from (`mctl status`/`show`, the state file);
// --ephemeral leaves nothing behind, --read-only writes nothing,
// --template fills a missing directory.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { eventually, REPO } from '../helpers/sandbox.ts'
import { NspawnRun } from '../helpers/nspawn.ts'
import { poolWorld, type PoolWorld } from '../helpers/pool-machines.ts'
import { machineLeader, SpawnRun, waitBooted } from '../helpers/spawn.ts'

void describe('machined-spawn -M NAME: containers from the pool', { timeout: 600_000 }, () => {
  let w: PoolWorld
  const runs: SpawnRun[] = []

  const mctl = (...args: string[]) => w.sb.exec(['node', join(REPO, 'bin/mctl.js'), ...args], { timeoutMs: 60_000 })
  const machinectl = (...args: string[]) => w.sb.exec(['machinectl', ...args], { timeoutMs: 60_000 })
  const spawnRun = (args: string[]): SpawnRun => {
    const r = SpawnRun.start(w.sb, args)
    runs.push(r)
    return r
  }
  /** Real systemd-nspawn running one command on `tree` (in a cgroup of its own, removed after). */
  const nspawnOnce = async (tree: string, command: string[]): Promise<{ code: number | null; output: string }> => {
    const run = NspawnRun.start(w.sb, tree, w.sb.name('nsp'), { command })
    const code = await run.exited
    await run.removeCgroups()
    return { code, output: run.output }
  }
  /** `machinectl poweroff`, once the guest can hear it (the busybox init traps the signal before it starts its first sleep). */
  const poweroff = async (name: string): Promise<void> => {
    const leader = await machineLeader(w.sb, name)
    await eventually(() => { try { return readFileSync(`/proc/${leader}/task/${leader}/children`, 'utf8').trim() !== '' } catch { return false } }, 10_000, 'the guest\'s init to be up')
    const r = await machinectl('poweroff', name)
    assert.equal(r.code, 0, r.stderr)
  }
  const stateFile = (name: string): string => w.sb.execSync(['cat', `/run/systemd/machines/${name}`]).stdout
  /** Nothing of the run is left: no state file, no runtime or scratch directory, no mount of the pool's, no loop device on the image. */
  const assertNothingLeft = async (name: string, image: string, options: { killed?: boolean } = {}): Promise<void> => {
    await eventually(() => w.sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code === 1, 10_000, 'the machine to go')
    // A killed machined-spawn leaves its empty parent directories; its helper removes the container's own.
    const runtime = options.killed === true ? `/run/machined-spawn/root/${name}` : '/run/machined-spawn'
    await eventually(() => w.sb.execSync(['test', '-e', runtime]).code === 1, 5000, `${runtime} to go`)
    assert.ok(!w.sb.execSync(['cat', '/proc/self/mountinfo']).stdout.includes(`/run/machined-spawn/root/${name}`), 'a mount left')
    await eventually(() => readdirSync('/var/tmp').every((f) => !f.startsWith(`machined-spawn-${name}.`)), 5000, 'the scratch directory to go')
    assert.equal(w.sb.execSync(['losetup', '--noheadings', '-j', image]).stdout, '', 'a loop device left on the image')
  }

  before(async () => {
    w = await poolWorld()
  })

  after(async () => {
    for (const r of runs) if (r.child.exitCode === null) { try { process.kill(r.managerPid(), 'SIGKILL') } catch { /* gone */ } }
    await w?.stop()
  })

  it('boots a directory image of the pool; status and show name the image; the image is locked until the guest powers off', async () => {
    const name = w.deb
    const run = spawnRun(['-M', name, '-b'])
    const leader = await machineLeader(w.sb, name)
    assert.equal(await waitBooted(w.sb, leader), 'running')
    const path = `/var/lib/machines/${name}`
    assert.match(run.stderr, new RegExp(`^Spawning container ${name} on ${path}\\.$`, 'm'))
    // The record: systemd's ROOT= and our IMAGE=/IMAGE_PATH=.
    assert.match(stateFile(name), new RegExp(`^ROOT=${path}\\nID=`, 'm'))
    assert.match(stateFile(name), new RegExp(`^IMAGE=${name}\\nIMAGE_PATH=${path}$`, 'm'))
    const status = await mctl('status', name)
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, new RegExp(`^\\t    Root: ${path}\\n\\t   Image: ${name} \\(${path}\\)\\n`, 'm'))
    const show = await mctl('show', name, '-p', 'ImageName', '-p', 'ImagePath', '-p', 'RootDirectory')
    assert.equal(show.stdout, `RootDirectory=${path}\nImageName=${name}\nImagePath=${path}\n`)
    // machinectl knows nothing of it: its show stays systemd's.
    assert.doesNotMatch((await machinectl('show', name)).stdout, /Image/)

    // In use: remove and rename fail with the named error, and the image stays.
    assert.equal((await machinectl('remove', name)).stderr, 'Could not remove image: Device or resource busy\n')
    assert.equal((await machinectl('rename', name, `${name}x`)).stderr, 'Could not rename image: Device or resource busy\n')
    assert.equal((await mctl('remove', name)).stderr, 'Could not remove image: Device or resource busy\n')
    assert.ok(existsSync(join(w.pool, name)))

    await poweroff(name)
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stderr)
    await assertNothingLeft(name, join(w.pool, name))
    // The lock went with the run: systemd-nspawn may take the image now.
    const nspawn = await nspawnOnce(path, ['/bin/true'])
    assert.equal(nspawn.code, 0, nspawn.output)
  })

  it('systemd-nspawn and machined-spawn exclude each other on one image; read-only runs share it', async () => {
    const name = w.bb
    const path = `/var/lib/machines/${name}`
    const nspawn = NspawnRun.start(w.sb, path, w.sb.name('nsp'), { command: ['/bin/sh', '-c', 'sleep 600'] })
    try {
      await eventually(() => existsSync(join(w.pool, `.#${name}.lck`)), 20_000, 'systemd-nspawn to lock the image')
      const refused = await SpawnRun.run(w.sb, ['-M', name, '/bin/true'])
      assert.equal(refused.code, 1)
      assert.equal(refused.stderr, `machined-spawn: Directory tree ${path} is currently busy.\n`)
    } finally {
      await nspawn.stop()
    }
    const ours = spawnRun(['-M', name, '-b'])
    await machineLeader(w.sb, name)
    const theirs = await nspawnOnce(path, ['/bin/true'])
    assert.notEqual(theirs.code, 0, theirs.output)
    assert.match(theirs.output, new RegExp(`Directory tree ${path} is currently busy\\.`))
    await poweroff(name)
    assert.deepEqual(await ours.exited, { code: 0, signal: null }, ours.stderr)

    // Shared: two read-only runs side by side, and the image unchanged.
    const a = spawnRun(['-M', name, '--read-only', '-b'])
    await machineLeader(w.sb, name)
    const b = await SpawnRun.run(w.sb, ['-D', path, '-M', w.sb.name('ro2'), '--read-only', '/bin/sh', '-c', 'touch /written 2>/dev/null; echo $?'])
    assert.equal(b.code, 0, b.stderr)
    assert.equal(b.stdout.trim(), '1', 'the root is read-only')
    assert.ok(!existsSync(join(w.pool, name, 'written')))
    await poweroff(name)
    assert.deepEqual(await a.exited, { code: 0, signal: null }, a.stderr)
    await assertNothingLeft(name, join(w.pool, name))
  })

  it('boots a raw image through a loop device that goes with the container', async () => {
    const name = w.bbraw
    const image = join(w.pool, `${name}.raw`)
    const run = spawnRun(['-M', name, '-b'])
    const leader = await machineLeader(w.sb, name)
    const rootDir = `/run/machined-spawn/root/${name}`
    assert.match(stateFile(name), new RegExp(`^ROOT=${rootDir}\\n`, 'm'))
    assert.match(stateFile(name), new RegExp(`^IMAGE=${name}\\nIMAGE_PATH=/var/lib/machines/${name}\\.raw$`, 'm'))
    assert.match((await mctl('status', name)).stdout, new RegExp(`\\t   Image: ${name} \\(/var/lib/machines/${name}\\.raw\\)\\n`))
    // The guest's root is the image's ext4 file system, on a loop device over the image.
    const root = readFileSync(`/proc/${leader}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')!
    assert.match(root, / - ext4 \/dev\/loop\d+ rw/)
    assert.match(w.sb.execSync(['losetup', '--noheadings', '-O', 'BACK-FILE', '-j', image]).stdout, new RegExp(name))
    assert.equal((await machinectl('remove', name)).stderr, 'Could not remove image: Device or resource busy\n')
    await poweroff(name)
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stderr)
    await eventually(() => w.sb.execSync(['losetup', '--noheadings', '-j', image]).stdout === '', 5000, 'the loop device to be detached')
    await assertNothingLeft(name, image)

    // Ephemeral: the image's file system read-only under an overlay; the image file does not change.
    const sum = (): string => w.sb.execSync(['sha256sum', image]).stdout
    const before = sum()
    const eph = await SpawnRun.run(w.sb, ['-M', name, '-x', '/bin/sh', '-c', 'echo x > /new && cat /new && grep -c lowerdir=/run/machined-spawn/lower/ /proc/self/mountinfo'])
    assert.deepEqual([eph.code, eph.stdout], [0, 'x\n1\n'], eph.stderr)
    assert.equal(sum(), before)
    await assertNothingLeft(name, image)
  })

  it('--ephemeral runs on a throw-away layer: the image is not changed, and nothing is left, also when machined-spawn is killed', async () => {
    const name = w.bb
    const run = spawnRun(['-M', name, '-x', '-b'])
    const leader = await machineLeader(w.sb, name)
    const scratch = await eventually(() => readdirSync('/var/tmp').find((f) => f.startsWith(`machined-spawn-${name}.`)), 5000, 'the scratch directory')
    assert.equal((await w.sb.exec(['nsenter', '-t', String(leader), '-m', '-r', '--', '/bin/sh', '-c', 'echo hi > /ephemeral-file && cat /ephemeral-file'])).stdout, 'hi\n')
    assert.ok(!existsSync(join(w.pool, name, 'ephemeral-file')), 'the image itself is untouched')
    assert.ok(existsSync(join('/var/tmp', scratch, 'upper/ephemeral-file')))
    // Shared lock: a read-only look at the image is fine, a writer is refused.
    const writer = await SpawnRun.run(w.sb, ['-D', `/var/lib/machines/${name}`, '-M', w.sb.name('writer'), '/bin/true'])
    assert.match(writer.stderr, /is currently busy\./)
    await poweroff(name)
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stderr)
    await assertNothingLeft(name, join(w.pool, name))

    // machined-spawn killed: its helper takes the container down and removes the layer.
    const before = readdirSync(join(w.pool, name)).sort()
    const killed = spawnRun(['-M', name, '-x', '-b'])
    const second = await machineLeader(w.sb, name)
    await w.sb.exec(['nsenter', '-t', String(second), '-m', '-r', '--', '/bin/sh', '-c', 'echo hi > /ephemeral-file'])
    process.kill(killed.managerPid(), 'SIGKILL')
    await eventually(() => !existsSync(`/proc/${second}`), 5000, 'the container to die with its manager')
    await assertNothingLeft(name, join(w.pool, name), { killed: true })
    assert.deepEqual(readdirSync(join(w.pool, name)).sort(), before)
  })

  it('--template fills a missing directory once; bad names and images are one line', async () => {
    const name = w.sb.name('tpl')
    const first = await SpawnRun.run(w.sb, ['-M', name, `--template=/var/lib/machines/${w.bb}`, '/bin/sh', '-c', 'echo made > /mark'])
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, new RegExp(`^Populated /var/lib/machines/${name} from template /var/lib/machines/${w.bb}\\.$`, 'm'))
    assert.equal(readFileSync(join(w.pool, name, 'mark'), 'utf8'), 'made\n')
    const again = await SpawnRun.run(w.sb, ['-M', name, `--template=/var/lib/machines/${w.bb}`, '/bin/cat', '/mark'])
    assert.equal(again.stdout, 'made\n')
    assert.match(again.stderr, new RegExp(`^Directory /var/lib/machines/${name} already exists, not populating from template`, 'm'))
    assert.ok(!existsSync(join(w.pool, w.bb, 'mark')), 'the template is untouched')

    const none = await SpawnRun.run(w.sb, ['-M', 'no-such-image', '-b'])
    assert.deepEqual([none.code, none.stderr], [1, "machined-spawn: No image for machine 'no-such-image'.\n"])
    const both = await SpawnRun.run(w.sb, ['-x', `--template=/var/lib/machines/${w.bb}`, '-M', 'x'])
    assert.deepEqual([both.code, both.stderr], [1, 'machined-spawn: --ephemeral and --template= may not be combined.\n'])
  })
})
