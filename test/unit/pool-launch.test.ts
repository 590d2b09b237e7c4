// The pure parts of running machines from the pool: how machined-spawn's
// helper puts a root together (plan-root.ts: a directory, a raw image's
// loop device, an ephemeral overlay, read-only), the rule that makes an
// image a VM (a kernel beside a raw image), the supervisor's records and
// exit status files, and the launchers' command lines.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { overlayEscape, rootSteps, type RootInput } from '../../src/spawn/plan-root.ts'
import { vmBootFiles } from '../../src/linux/image-search.ts'
import { parseExitStatus, recordExitStatus, takeExitStatusFile, EXIT_STATUS_ENV } from '../../src/linux/exit-status.ts'
import { formatLauncherRecord, parseLauncherRecord } from '../../src/backends/supervisor-files.ts'
import { launcherArgv } from '../../src/backends/supervisor.ts'
import { serviceUnitName } from '../../src/backends/systemd-services.ts'

const STAGING = { root: '/run/machined-spawn/root/web', lower: '/run/machined-spawn/lower/web' }
const RAW = { kind: 'raw', image: '/var/lib/machines/web.raw', offset: 1048576n, size: 6291456n, fsType: 'ext4' } as const

function steps(input: Partial<RootInput>): { host: string[]; container: string[]; root: string } {
  const r = rootSteps({ setup: { kind: 'directory', path: '/var/lib/machines/web' }, readOnly: false, scratch: undefined, staging: STAGING, ...input })
  const line = (s: { op: string; args: readonly (string | null)[] }): string => [s.op, ...s.args.map((a) => a ?? '-')].join(' ')
  return { host: r.host.map(line), container: r.container.map(line), root: r.root }
}

void describe('rootSteps', () => {
  test('a directory: pivot_root into it, read-only when asked', () => {
    assert.deepEqual(steps({}), { host: [], container: ['pivot-root /var/lib/machines/web'], root: '/var/lib/machines/web' })
    assert.deepEqual(steps({ readOnly: true }).container, ['pivot-root /var/lib/machines/web ro'])
  })

  test('a raw image: its root partition through a loop device on a staging directory the helper makes and removes', () => {
    assert.deepEqual(steps({ setup: RAW }), {
      host: [`host-dir ${STAGING.root}`],
      container: [`loop-mount ${RAW.image} 1048576 6291456 ext4 ${STAGING.root} - -`, `pivot-root ${STAGING.root}`],
      root: STAGING.root,
    })
    // Read-only: the device too, and no journal replay (ext4 would refuse a read-only device otherwise).
    assert.deepEqual(steps({ setup: { ...RAW, size: undefined }, readOnly: true }).container,
      [`loop-mount ${RAW.image} 1048576 0 ext4 ${STAGING.root} ro norecovery`, `pivot-root ${STAGING.root} ro`])
    assert.equal(steps({ setup: { ...RAW, fsType: 'btrfs' }, readOnly: true }).container[0], `loop-mount ${RAW.image} 1048576 6291456 btrfs ${STAGING.root} ro -`)
  })

  test('ephemeral: an overlay over the tree, its upper layer the run\'s scratch directory, removed by the helper only if machined-spawn died', () => {
    const scratch = '/var/tmp/machined-spawn-web.Ab12Cd'
    assert.deepEqual(steps({ scratch }), {
      host: [`host-dir ${STAGING.root}`, `host-orphan-dir ${scratch}`],
      container: [`mount overlay ${STAGING.root} overlay - lowerdir=/var/lib/machines/web,upperdir=${scratch}/upper,workdir=${scratch}/work`, `pivot-root ${STAGING.root}`],
      root: STAGING.root,
    })
    // A raw image under an overlay is mounted read-only, below.
    assert.deepEqual(steps({ setup: RAW, scratch }).container, [
      `loop-mount ${RAW.image} 1048576 6291456 ext4 ${STAGING.lower} ro norecovery`,
      `mount overlay ${STAGING.root} overlay - lowerdir=${STAGING.lower},upperdir=${scratch}/upper,workdir=${scratch}/work`,
      `pivot-root ${STAGING.root}`,
    ])
  })

  test('overlayfs option text: commas, colons and backslashes escaped', () => {
    assert.equal(overlayEscape('/srv/a,b:c\\d'), '/srv/a\\,b\\:c\\\\d')
  })
})

void describe('which images are VMs', () => {
  test('a raw image with NAME.vmlinuz beside it, with NAME.initrd and NAME.cmdline when there; anything else is a container', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmrule-'))
    try {
      const raw = { type: 'raw' as const, path: join(dir, 'web.raw') }
      writeFileSync(raw.path, '')
      assert.equal(vmBootFiles(raw), undefined)
      writeFileSync(join(dir, 'web.vmlinuz'), 'k')
      assert.deepEqual(vmBootFiles(raw), { kernel: join(dir, 'web.vmlinuz'), initrd: undefined, cmdline: undefined })
      writeFileSync(join(dir, 'web.initrd'), 'i')
      writeFileSync(join(dir, 'web.cmdline'), 'root=/dev/vda1 quiet  \nignored\n')
      assert.deepEqual(vmBootFiles(raw), { kernel: join(dir, 'web.vmlinuz'), initrd: join(dir, 'web.initrd'), cmdline: 'root=/dev/vda1 quiet' })
      assert.equal(vmBootFiles({ type: 'directory', path: join(dir, 'web') }), undefined)
      const vm = launcherArgv({ name: 'web', ...raw })
      assert.equal(vm.kind, 'vm')
      assert.deepEqual(vm.argv.slice(1), ['--machine=web', `--image=${raw.path}`, `--kernel=${join(dir, 'web.vmlinuz')}`, `--initrd=${join(dir, 'web.initrd')}`,
        '--append=root=/dev/vda1 quiet', '--console=read-only'])
      assert.match(vm.argv[0]!, /bin\/machined-vmspawn\.js$/)
      assert.equal(serviceUnitName({ name: 'web', ...raw }), 'machined-vmspawn@web.service')
      writeFileSync(join(dir, 'web.cmdline'), 'x'.repeat(5000))
      assert.throws(() => vmBootFiles(raw), /longer than 4096 bytes/)
    } finally {
      rmSync(dir, { recursive: true })
    }
    const ct = launcherArgv({ name: 'box', type: 'directory', path: '/var/lib/machines/box' })
    assert.deepEqual([ct.kind, ...ct.argv.slice(1)], ['container', '--machine=box', '--boot', '--console=read-only'])
    assert.equal(serviceUnitName({ name: 'box', type: 'directory', path: '/var/lib/machines/box' }), 'machined-spawn@box.service')
  })
})

void describe('the supervisor\'s files', () => {
  test('a launcher record reads back; garbage and records of another name do not', () => {
    const r = { name: 'web', kind: 'container', pid: 4242, startTime: 123456n, registered: true, stopping: false } as const
    const text = formatLauncherRecord(r)
    assert.match(text, /^# .*\nNAME=web\nKIND=container\nLAUNCHER=4242\nLAUNCHER_STARTTIME=123456\nREGISTERED=1\n$/)
    assert.deepEqual(parseLauncherRecord(text, 'web'), r)
    assert.equal(parseLauncherRecord(text, 'other'), undefined)
    assert.equal(parseLauncherRecord('NAME=web\nKIND=vm\nLAUNCHER=1\nLAUNCHER_STARTTIME=5\n', 'web'), undefined, 'PID 1 is never a launcher')
    assert.equal(parseLauncherRecord('NAME=web\nKIND=oven\nLAUNCHER=9\nLAUNCHER_STARTTIME=5\n', 'web'), undefined)
    assert.equal(parseLauncherRecord('NAME=web\nKIND=vm\nLAUNCHER=9\nLAUNCHER_STARTTIME=x\n', 'web'), undefined)
  })

  test('the exit status file: named in the environment (and taken out of it), one decimal line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'exitstatus-'))
    try {
      const env: NodeJS.ProcessEnv = { [EXIT_STATUS_ENV]: join(dir, 'web.status'), OTHER: '1' }
      const file = takeExitStatusFile(env)
      assert.deepEqual(env, { OTHER: '1' })
      recordExitStatus(file, 133)
      assert.equal(parseExitStatus(`133\n`), 133)
      assert.equal(takeExitStatusFile({ [EXIT_STATUS_ENV]: 'relative' }), undefined)
      recordExitStatus(join(dir, 'missing/dir/x'), 1) // a file that cannot be written is no failure of the launcher's
      for (const bad of ['', 'x\n', '1234\n', '-1\n', '1\n2\n']) assert.equal(parseExitStatus(bad), undefined, JSON.stringify(bad))
    } finally {
      rmSync(dir, { recursive: true })
    }
  })
})
