// machined-vmspawn end to end (issue 7's "Done when"): a real Debian guest
// under qemu takes the VM's UUID as its machine ID and says so in its guest
// report (docs/vm-guest-protocol.md: Debian 12's systemd is too old for the
// vsock notify channel, so the console report is how the launcher learns
// it), real machinectl sees the VM with that Id and class vm, and powers it
// off through ACPI; reboot resets it; SIGTERM with a guest that ignores ACPI
// ends in a kill; bad input fails with one line and registers nothing. One
// full boot (~10-15 s under TCG) and one short one; the image is built once
// and cached (scripts/vm-image.sh).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { eventually, REPO, Sandbox } from '../helpers/sandbox.ts'
import { registerMachine } from '../helpers/busctl.ts'
import { launchVm, processesMentioning, vmImage, type VmImage } from '../helpers/vm.ts'
import { RUNTIME_ROOT } from '../../src/vmspawn/runtime-dir.ts'
import { vmGuestRecord } from '../../src/linux/vm-guest.ts'
import { describeGuestId } from '../../src/protocol/vm-guest-record.ts'

const VM_TIMEOUT = { timeout: 240_000 }

/** machinectl list's rows: name → [class, service]. */
async function machineRows(sb: Sandbox): Promise<Map<string, string[]>> {
  const r = await sb.exec(['machinectl', 'list', '--no-legend'])
  assert.equal(r.code, 0, r.stderr)
  return new Map(r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const [name, ...rest] = l.trim().split(/\s+/)
    return [name!, rest]
  }))
}

function listDir(path: string): string[] {
  return existsSync(path) ? readdirSync(path).sort() : []
}

/** Whether any copy of the machine's scope is left in the hierarchies the sandbox tracks processes in. */
function scopeLeft(sb: Sandbox, name: string): boolean {
  return sb.scopeDirs(name).some((d) => existsSync(d))
}

describe('machined-vmspawn', () => {
  let sb: Sandbox
  let image: VmImage
  before(async () => {
    image = vmImage()
    sb = await Sandbox.start()
  })
  after(async () => { await sb?.stop() })

  /** What must be gone once a VM's launcher has exited. */
  async function assertNothingLeft(name: string, uuid: string, launcherPid: number): Promise<void> {
    await eventually(async () => !(await machineRows(sb)).has(name), 5000, `${name} to leave machinectl list`)
    assert.equal(existsSync(sb.hostPath(`/run/systemd/machines/${name}`)), false, 'state file removed')
    assert.equal(existsSync(sb.hostPath(`${RUNTIME_ROOT}/${launcherPid}`)), false, 'runtime directory removed')
    await eventually(() => processesMentioning(uuid).length === 0, 5000, 'no process left running with the VM UUID')
    await eventually(() => !scopeLeft(sb, name), 5000, `the scope of ${name} to be removed`)
  }

  it('boots a guest that takes --uuid as machine ID; machinectl shows it as vm with that Id; reboot resets; poweroff powers off through ACPI', VM_TIMEOUT, async () => {
    const name = sb.name('vm')
    // Upper case on input; random, so that runs on one host never share a UUID (random bytes are asymmetric: any byte swapping would show).
    const given = randomUUID().toUpperCase()
    const uuid = given.toLowerCase()
    const machineId = uuid.replace(/-/g, '')
    const vm = launchVm(sb, ['-M', name, `--uuid=${given}`, '--kernel', image.kernel, '--initrd', image.initrd,
      `--append=${image.append}`, '--accel=auto', '--console=read-only', '--ram=1G', '--cpus=2'])
    try {
      // --accel=auto really tried KVM: on this kind of machine /dev/kvm cannot run the guest, and it says so.
      const spawned = await vm.waitFor(/Spawning VM (\S+) \(UUID ([^,)]+)(, vsock CID \d+, notify port \d+)?\) with (KVM|TCG)\./, { stream: 'stderr', timeoutMs: 30_000 })
      assert.equal(spawned[1], name)
      assert.equal(spawned[2], uuid)
      if (spawned[4] === 'TCG') assert.match(vm.stderr, /(KVM is not available|probe guest made no progress under KVM).*falling back to TCG/)
      // The vsock notify channel by what the host's kernel offers; without it, one line says so.
      const noVsock = 'No vsock notify channel (/dev/vhost-vsock: No such file or directory): the guest is followed on its console only.'
      if (existsSync('/dev/vhost-vsock')) {
        assert.notEqual(spawned[3], undefined, 'a vsock device and a notify port')
      } else {
        assert.equal(spawned[3], undefined)
        assert.equal(vm.stderr.split(noVsock).length - 1, 1, `said once:\n${vm.stderr}`)
      }

      const leader = await eventually(() => vm.pid, 10_000, 'the launcher process')
      const rows = await eventually(async () => { const r = await machineRows(sb); return r.has(name) ? r : undefined }, 10_000, 'the VM in machinectl list')
      assert.deepEqual(rows.get(name)?.slice(0, 2), ['vm', 'machined-vmspawn'])
      const show = await sb.exec(['machinectl', 'show', name, '-p', 'Id', '-p', 'Class', '-p', 'Service', '-p', 'Leader'])
      assert.equal(show.code, 0, show.stderr)
      assert.deepEqual(show.stdout.trim().split('\n').sort(), [`Class=vm`, `Id=${machineId}`, `Leader=${leader}`, 'Service=machined-vmspawn'])

      // machinectl reboot → SIGINT to the leader → QMP system_reset: the kernel starts over.
      await vm.waitFor(/Linux version/, { timeoutMs: 60_000 })
      const firstBoot = vm.stdout.lastIndexOf('Linux version')
      const reboot = await sb.exec(['machinectl', 'reboot', name])
      assert.equal(reboot.code, 0, reboot.stderr)
      await vm.waitFor(/Linux version/, { after: firstBoot + 1, timeoutMs: 60_000 })
      assert.match(vm.stderr, /Resetting the guest\./)
      const secondBoot = vm.stdout.lastIndexOf('Linux version')

      // The guest's systemd takes the SMBIOS product UUID; its guest report (data/guest/) says what it ended up with.
      await vm.waitFor(/Initializing machine ID from VM UUID\./, { after: secondBoot, timeoutMs: 120_000 })
      const report = await vm.waitFor(/machined-guest-report\/1: READY=1 X_SYSTEMD_MACHINE_ID=(\S+) X_SYSTEMD_HOSTNAME=(\S+) X_MACHINED_PRODUCT_UUID=(\S+)/, { after: secondBoot, timeoutMs: 120_000 })
      assert.equal(report[1], machineId, "the guest's /etc/machine-id is the UUID without dashes")
      assert.equal(report[2], 'guest')
      assert.equal(report[3], uuid, 'the guest reads the UUID as given (lower case), no byte swapping')
      await vm.waitFor(/The guest is ready \(its report on the console\)\./, { stream: 'stderr', timeoutMs: 5000 })

      // The launcher recorded it where `mctl status` looks (by leader PID).
      const record = await eventually(() => { const r = vmGuestRecord(leader, sb.hostPath(RUNTIME_ROOT)); return r?.ready === true ? r : undefined }, 5000, 'the guest record')
      assert.deepEqual(record, { machineIdSource: 'VM UUID', machineId, productUuid: uuid, hostname: 'guest', ready: true, readyVia: 'console' })
      assert.equal(describeGuestId(machineId, record), 'taken by the guest (from VM UUID)')
      const status = await sb.exec([process.execPath, join(REPO, 'bin/mctl.js'), 'status', name])
      assert.equal(status.code, 0, status.stderr)
      assert.match(status.stdout, /\n\t {3}Guest: ready \(on the console\)\n\tGuest ID: taken by the guest \(from VM UUID\)\n/)

      // machinectl poweroff → SIGRTMIN+4 → ACPI power button → systemd-logind → poweroff.target.
      const poweroff = await sb.exec(['machinectl', 'poweroff', name])
      assert.equal(poweroff.code, 0, poweroff.stderr)
      const exit = await vm.exited
      assert.equal(exit.code, 0, vm.stderr)
      assert.match(vm.stderr, /Powering off the guest \(ACPI power button\)\./)
      assert.match(vm.stdout, /systemd-shutdown\[1\]: Powering off\./, 'the guest shut down cleanly')
      assert.match(vm.stderr, /The guest powered off\./)
      await assertNothingLeft(name, uuid, leader)
    } finally {
      if (vm.child.exitCode === null) { const p = vm.pid; if (p !== undefined) process.kill(p, 'SIGKILL') }
    }
  })

  it('SIGTERM asks the guest to power off, then kills qemu when it does not', VM_TIMEOUT, async () => {
    const name = sb.name('vmterm')
    const uuid = randomUUID()
    // No initrd: the kernel panics for want of a root file system and never answers the power button.
    const vm = launchVm(sb, ['-M', name, `--uuid=${uuid}`, '--kernel', image.kernel, '--accel=tcg', '--console=read-only', '--ram=256M', '--shutdown-timeout=1'])
    try {
      await vm.waitFor(/Linux version/, { timeoutMs: 60_000 })
      const leader = await eventually(() => vm.pid, 10_000, 'the launcher process')
      assert.ok((await machineRows(sb)).has(name))
      process.kill(leader, 'SIGTERM')
      const exit = await vm.exited
      assert.equal(exit.code, 128 + 9, vm.stderr)
      assert.match(vm.stderr, /Powering off the guest; qemu is killed if it is still running in 1s/)
      assert.match(vm.stderr, /The guest did not power off within 1s: killing qemu\./)
      assert.match(vm.stderr, /qemu died of SIGKILL\./)
      await assertNothingLeft(name, uuid, leader)
    } finally {
      if (vm.child.exitCode === null) { const p = vm.pid; if (p !== undefined) process.kill(p, 'SIGKILL') }
    }
  })

  it('interactive console on a terminal: raw mode, and Ctrl-] three times within a second stops the VM', VM_TIMEOUT, async () => {
    const name = sb.name('vmtty')
    const uuid = randomUUID()
    // script(1) gives the launcher a terminal; in cooked mode the three bytes would wait for a newline.
    const inner = ['npx', '--no-install', 'machined-vmspawn', '-M', name, `--uuid=${uuid}`, '--kernel', image.kernel, '--accel=tcg', '--console=interactive', '--ram=256M'].join(' ')
    const vm = launchVm(sb, [], { command: ['script', '-qfec', inner, '/dev/null'], stdin: 'pipe' })
    try {
      await vm.waitFor(/Press Ctrl-\] three times within 1s to kill the VM\./, { timeoutMs: 30_000 })
      await vm.waitFor(/Linux version/, { timeoutMs: 60_000 })
      const leader = await eventually(() => vm.pid, 10_000, 'the launcher process')
      vm.child.stdin?.write('\x1d\x1d\x1d')
      const exit = await vm.exited
      assert.equal(exit.code, 128 + 15, vm.stdout.slice(-2000))
      assert.match(vm.stdout, /Ctrl-\] pressed three times: stopping the VM\./)
      assert.match(vm.stdout, /qemu was stopped by signal 15\./)
      await assertNothingLeft(name, uuid, leader)
    } finally {
      if (vm.child.exitCode === null) { const p = vm.pid; if (p !== undefined) process.kill(p, 'SIGKILL') }
    }
  })

  describe('bad input: one line on stderr, status 1, nothing registered or left running', () => {
    async function expectOneLineError(args: string[], pattern: RegExp, options: Parameters<typeof launchVm>[2] = {}): Promise<void> {
      const before = listDir(sb.hostPath('/run/systemd/machines'))
      const vm = launchVm(sb, args, options)
      const exit = await vm.exited
      assert.equal(exit.code, 1, vm.stderr)
      assert.equal(vm.stderr.endsWith('\n') && vm.stderr.trimEnd().split('\n').length, 1, `exactly one line, got:\n${vm.stderr}`)
      assert.match(vm.stderr, pattern)
      assert.deepEqual(listDir(sb.hostPath('/run/systemd/machines')), before, 'no state file added')
      assert.deepEqual(listDir(sb.hostPath(RUNTIME_ROOT)), [], 'no runtime directory left')
    }

    it('a missing kernel', async () => {
      const name = sb.name('vmbad')
      await expectOneLineError(['-M', name, '--kernel', '/nonexistent/vmlinuz', '--accel=tcg'],
        /^machined-vmspawn: Cannot use kernel \/nonexistent\/vmlinuz: No such file or directory\n$/)
      assert.equal((await machineRows(sb)).has(name), false)
    })

    it('an invalid UUID (malformed, or all zeros which no guest could take)', async () => {
      const name = sb.name('vmbad')
      await expectOneLineError(['-M', name, '--uuid=not-a-uuid', '--kernel', image.kernel], /^machined-vmspawn: Invalid UUID: not-a-uuid /)
      await expectOneLineError(['-M', name, '--uuid=00000000-0000-0000-0000-000000000000', '--kernel', image.kernel], /^machined-vmspawn: Invalid UUID: 0{8}-/)
      assert.equal((await machineRows(sb)).has(name), false)
    })

    it('a name that is taken: the other machine stays as it was', async () => {
      const name = sb.name('vmtaken')
      const holder = await sb.spawnLeader()
      const r = await registerMachine(sb, { name, leader: holder.pid!, service: 'other' })
      assert.equal(r.ok, true, r.stderr)
      const uuid = randomUUID()
      await expectOneLineError(['-M', name, `--uuid=${uuid}`, '--kernel', image.kernel, '--initrd', image.initrd, '--accel=tcg'],
        new RegExp(`^machined-vmspawn: Failed to register machine ${name}: Machine '${name}' already exists\\n$`))
      assert.deepEqual((await machineRows(sb)).get(name)?.slice(0, 2), ['container', 'other'])
      assert.deepEqual(processesMentioning(uuid), [], 'qemu was never started')
      holder.kill('SIGKILL')
      await eventually(async () => !(await machineRows(sb)).has(name), 5000, 'the other machine to go with its leader')
    })

    it('qemu missing from $PATH', async () => {
      const name = sb.name('vmbad')
      // node by absolute path: with such a PATH npx would not be found either.
      await expectOneLineError(['-M', name, '--kernel', image.kernel], /^machined-vmspawn: qemu not found: .* is in \$PATH/,
        { command: ['env', 'PATH=/nonexistent', process.execPath, 'bin/machined-vmspawn.js'] })
      assert.equal((await machineRows(sb)).has(name), false)
    })

    it('--initrd without a kernel, and a bad --console', async () => {
      await expectOneLineError(['-M', sb.name('vmbad'), '--image=/dev/null', '--initrd', image.initrd], /^machined-vmspawn: Option --initrd= cannot be used without --kernel=\n$/)
      await expectOneLineError(['-M', sb.name('vmbad'), '--kernel', image.kernel, '--console=gui'], /^machined-vmspawn: Invalid --console=gui: expected interactive, read-only, pipe\n$/)
    })
  })
})
