/**
 * The libvirt VM: the systemd guest's tree (./systemd-guest.ts) booted as a
 * qemu VM (TCG) with its own kernel, so its systemd runs on pure cgroup2
 * with every controller there, which libvirt's LXC driver needs and a
 * container on a host that binds the controllers to cgroup v1 cannot have.
 * scripts/libvirt-vm-image.sh builds and caches the root image and kernel;
 * each run adds a read-only second disk holding this checkout (without
 * .git), a busybox tree for the LXC domain and the scenario
 * (./libvirt-vm-scenario.sh), which runs at boot and prints its findings on
 * the serial console as base64 sections, then powers the VM off.
 *
 *   const run = await runLibvirtScenario({ 'bb.xml': xml })
 *   run.sections.get('list')   // what `machinectl list` printed in the VM
 */

import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { installBusyboxTree } from './busybox-tree.ts'
import { CACHE_DIR, cachedTree } from './debian-tree.ts'
import { REPO } from './sandbox.ts'
import { GUEST_RECIPE } from './systemd-guest.ts'

export interface LibvirtVmRun {
  /** The scenario's sections by name, decoded. */
  readonly sections: ReadonlyMap<string, string>
  /** Everything the serial console printed. */
  readonly console: string
  readonly seconds: number
}

interface VmImage { readonly kernel: string; readonly initrd: string; readonly root: string; readonly append: string }

function libvirtVmImage(tree: string): VmImage {
  const r = spawnSync('bash', [join(REPO, 'scripts/libvirt-vm-image.sh'), tree], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 15 * 60_000 })
  if (r.status !== 0) throw new Error(`scripts/libvirt-vm-image.sh failed (${r.status ?? r.signal}); see its output above`)
  const v = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  if (v.KERNEL === undefined || v.INITRD === undefined || v.ROOT === undefined || v.APPEND === undefined) throw new Error(`scripts/libvirt-vm-image.sh printed no image:\n${r.stdout}`)
  return { kernel: v.KERNEL, initrd: v.INITRD, root: v.ROOT, append: v.APPEND }
}

function mustRun(argv: readonly string[], what: string): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${r.stderr}`)
}

/** The checkout, a busybox tree at bb/, the scenario and `files` on an ext4 image (mke2fs -d: no mount). */
function checkoutDisk(dir: string, files: Readonly<Record<string, string>>): string {
  const stage = join(dir, 'stage')
  mustRun(['sh', '-c', 'mkdir -p "$2" && tar -C "$1" --exclude=./.git -c . | tar -C "$2" -x', 'sh', REPO, stage], 'copying the checkout')
  installBusyboxTree(join(stage, 'bb'))
  copyFileSync(join(REPO, 'test/helpers/libvirt-vm-scenario.sh'), join(stage, 'scenario.sh'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(stage, name), text)
  const du = spawnSync('du', ['-sm', stage], { encoding: 'utf8' })
  const megabytes = Number(du.stdout.split('\t')[0]) + 64
  const disk = join(dir, 'checkout.img')
  mustRun(['mke2fs', '-q', '-t', 'ext4', '-d', stage, disk, `${megabytes}M`], 'mke2fs of the checkout disk')
  rmSync(stage, { recursive: true, force: true })
  return disk
}

/** The console's @@BEGIN/@@END sections, base64-decoded. */
function parseSections(console: string): Map<string, string> {
  const sections = new Map<string, string>()
  for (const m of console.matchAll(/^@@BEGIN (\S+)\r?\n([\s\S]*?)^@@END \1\r?$/gm)) {
    sections.set(m[1]!, Buffer.from(m[2]!.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('utf8'))
  }
  return sections
}

/** Boots the VM once with the scenario, waits for it to power off (at most `timeoutMs`) and returns what it printed. */
export async function runLibvirtScenario(files: Readonly<Record<string, string>>, timeoutMs = 9 * 60_000): Promise<LibvirtVmRun> {
  const image = libvirtVmImage(await cachedTree(GUEST_RECIPE))
  const dir = mkdtempSync(join(CACHE_DIR, 'libvirt-vm-run-'))
  try {
    const disk = checkoutDisk(dir, files)
    const started = Date.now()
    // -snapshot: the cached root image is written to a temporary overlay, never itself.
    const qemu = spawn('qemu-system-x86_64', [
      '-machine', 'q35', '-accel', 'tcg', '-m', '2048', '-smp', '2', '-nographic', '-no-reboot', '-snapshot', '-nic', 'none',
      '-kernel', image.kernel, '-initrd', image.initrd, '-append', `console=ttyS0 ${image.append} quiet`,
      '-drive', `file=${image.root},format=raw,if=virtio`, '-drive', `file=${disk},format=raw,if=virtio,readonly=on`,
      '-serial', 'stdio', '-monitor', 'none',
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    let console = ''
    let stderr = ''
    qemu.stdout.on('data', (c: Buffer) => { console += c.toString('latin1') })
    qemu.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => qemu.kill('SIGKILL'), timeoutMs)
    const exit = await new Promise<number | null>((resolve) => qemu.once('close', (code) => resolve(code)))
    clearTimeout(timer)
    if (!console.includes('@@DONE')) {
      throw new Error(`the libvirt VM did not finish its scenario (qemu exit ${exit}, ${Math.round((Date.now() - started) / 1000)} s):\n${stderr}\nconsole tail:\n${console.slice(-4000)}`)
    }
    return { sections: parseSections(console), console, seconds: (Date.now() - started) / 1000 }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
