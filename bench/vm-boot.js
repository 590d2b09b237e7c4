#!/usr/bin/env node
// Benchmark: a VM's life under machined-vmspawn against the equivalent
// hand-written qemu command line. See bench/README.md. Run as root:
// `node bench/vm-boot.js` (--help).
//
// Each run: launch → the guest's console shows multi-user.target reached →
// power-off request → the process has exited. machined-vmspawn is powered
// off the way `machinectl poweroff` does it (SIGRTMIN+4 to the launcher,
// which presses the ACPI button over QMP); plain qemu through its QMP
// socket (system_powerdown), as a script would. Variants run interleaved
// so that drift on the machine hits them alike; medians are reported.
import { spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const REPO = dirname(BENCH_DIR)
const SIGRTMIN_POWEROFF = 34 + 4 // glibc's SIGRTMIN + 4, what machinectl poweroff sends

const HELP = `node bench/vm-boot.js [OPTIONS]

Launch → guest multi-user.target → power-off, for machined-vmspawn and for
the equivalent hand-written qemu command line; prints medians and the ratio.
Builds the test image first if it is not cached (scripts/vm-image.sh).

Options:
  --runs=N        Runs per variant (default 5)
  --cpus=N        Guest CPUs (default 2)
  --ram=SIZE      Guest RAM for both, in qemu's -m syntax (default 1024M)
  --no-auto       Skip the machined-vmspawn --accel=auto variant (probe + fallback)
  --no-build      Do not run \`tsc -p tsconfig.build.json\` first
  --json=FILE     Where to write results (default bench/results/vm-boot-latest.json)
  -h, --help      Show this help
`

function log(msg) {
  process.stderr.write(`[vm-boot] ${msg}\n`)
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

// Terminal escape sequences (colours, cursor moves) are stripped before the console is matched.
// eslint-disable-next-line no-control-regex -- ESC is exactly what this matches.
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x1bc/g
const MULTI_USER = /Reached target .*multi-user\.target/

function image() {
  const r = spawnSync('bash', [join(REPO, 'scripts/vm-image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (r.status !== 0) throw new Error('scripts/vm-image.sh failed')
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
}

function qmpPowerdown(path) {
  return new Promise((resolve, reject) => {
    const sock = connect(path)
    let buf = ''
    let step = 0
    sock.on('error', reject)
    sock.on('data', (c) => {
      buf += c.toString()
      if (step === 0 && buf.includes('"QMP"')) { step = 1; sock.write('{"execute":"qmp_capabilities"}\r\n') }
      else if (step === 1 && buf.includes('"return"')) { step = 2; buf = ''; sock.write('{"execute":"system_powerdown"}\r\n') }
      else if (step === 2 && buf.includes('"return"')) { sock.end(); resolve() }
    })
  })
}

/** One life of one VM: ms to multi-user.target, ms from the power-off request to exit. */
async function measure(argv, powerOff) {
  const started = performance.now()
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, at: performance.now() })))
  let console_ = ''
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += c.toString() })
  const multiUser = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no multi-user.target within 180 s:\n${stderr}\n${console_.slice(-2000)}`)), 180_000)
    child.stdout.on('data', (c) => {
      console_ += c.toString('latin1')
      if (MULTI_USER.test(console_.replace(ANSI, ''))) { clearTimeout(timer); resolve(performance.now()) }
    })
    void exited.then(() => { clearTimeout(timer); reject(new Error(`exited before multi-user.target:\n${stderr}\n${console_.slice(-2000)}`)) })
  })
  const requested = performance.now()
  await powerOff(child)
  const exit = await exited
  if (exit.code !== 0) throw new Error(`exited with ${exit.code ?? exit.signal}:\n${stderr}`)
  return { bootMs: multiUser - started, powerOffMs: exit.at - requested, totalMs: exit.at - started }
}

async function main() {
  const { values: o } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' }, cpus: { type: 'string', default: '2' }, ram: { type: 'string', default: '1024M' },
      'no-auto': { type: 'boolean' }, 'no-build': { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  })
  if (o.help) { process.stdout.write(HELP); return }
  if (process.getuid?.() !== 0) throw new Error('run as root (the test image is built with debootstrap)')
  const runs = Number(o.runs)
  if (!o['no-build']) {
    log('building (tsc -p tsconfig.build.json)')
    if (spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'inherit' }).status !== 0) throw new Error('build failed')
    if (spawnSync(process.execPath, ['scripts/build-bins.js'], { cwd: REPO, stdio: 'inherit' }).status !== 0) throw new Error('build failed')
  }
  const img = image()
  const work = mkdtempSync(join(tmpdir(), 'vm-boot-'))
  const qemuBin = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).stdout.trim()
  if (qemuBin === '') throw new Error('qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)')

  const vmspawn = (accel) => async () => {
    const uuid = randomUUID()
    const argv = [process.execPath, join(REPO, 'bin/machined-vmspawn.js'), '-M', 'bench', `--uuid=${uuid}`, '--kernel', img.KERNEL, '--initrd', img.INITRD,
      `--append=${img.APPEND}`, `--accel=${accel}`, `--cpus=${o.cpus}`, `--ram=${o.ram}`, '--console=read-only', '--register=no', '-q']
    return measure(argv, async (child) => { process.kill(child.pid, SIGRTMIN_POWEROFF) })
  }
  // What a person would type for the same VM: same machine, CPU, devices, SMBIOS UUID and kernel command line.
  const handWritten = async () => {
    const uuid = randomUUID()
    const qmp = join(work, `qmp-${uuid}.sock`)
    const argv = [qemuBin, '-machine', 'q35', '-accel', 'tcg', '-cpu', 'max', '-smp', o.cpus, '-m', o.ram,
      '-nographic', '-nodefaults', '-nic', 'none', '-device', 'virtio-rng-pci',
      '-smbios', `type=1,uuid=${uuid}`, '-serial', 'stdio', '-qmp', `unix:${qmp},server=on,wait=off`,
      '-kernel', img.KERNEL, '-initrd', img.INITRD, '-append', `console=ttyS0 ${img.APPEND}`]
    return measure(argv, async () => {
      for (let i = 0; ; i++) {
        try { await qmpPowerdown(qmp); return } catch (err) { if (i > 50) throw err; await new Promise((r) => setTimeout(r, 100)) }
      }
    })
  }

  const variants = [
    ['qemu (hand-written, tcg)', handWritten],
    ['machined-vmspawn --accel=tcg', vmspawn('tcg')],
    ...(o['no-auto'] ? [] : [['machined-vmspawn --accel=auto', vmspawn('auto')]]),
  ]
  const results = Object.fromEntries(variants.map(([name]) => [name, []]))
  try {
    log('warm-up run (page cache)')
    await handWritten()
    for (let r = 0; r < runs; r++) {
      for (const [name, fn] of variants) {
        const m = await fn()
        results[name].push(m)
        log(`run ${r + 1}/${runs} ${name}: multi-user ${(m.bootMs / 1000).toFixed(2)} s, power-off ${(m.powerOffMs / 1000).toFixed(2)} s, total ${(m.totalMs / 1000).toFixed(2)} s`)
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }

  const base = results[variants[0][0]]
  const baseTotal = median(base.map((m) => m.totalMs))
  const rows = variants.map(([name]) => {
    const ms = results[name]
    const total = median(ms.map((m) => m.totalMs))
    return { name, bootS: median(ms.map((m) => m.bootMs)) / 1000, powerOffS: median(ms.map((m) => m.powerOffMs)) / 1000, totalS: total / 1000, ratio: total / baseTotal }
  })
  const table = [
    `| variant (median of ${runs}) | launch → multi-user (s) | power-off (s) | total (s) | ratio |`,
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.bootS.toFixed(2)} | ${r.powerOffS.toFixed(2)} | ${r.totalS.toFixed(2)} | ${r.ratio.toFixed(2)} |`),
  ].join('\n')
  process.stdout.write(`${table}\n`)
  const json = o.json ?? join(BENCH_DIR, 'results', 'vm-boot-latest.json')
  mkdirSync(dirname(json), { recursive: true })
  writeFileSync(json, `${JSON.stringify({ date: new Date().toISOString(), runs, cpus: o.cpus, ram: o.ram, rows, raw: results }, null, 2)}\n`)
  log(`wrote ${json}`)
}

main().catch((err) => { process.stderr.write(`vm-boot: ${err.message}\n`); process.exit(1) })
