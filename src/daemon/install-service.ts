/**
 * `machined install-service` and `machined uninstall-service`: after a
 * global npm install, install (or remove) what runs machined-ts as the
 * host's service — systemd units and D-Bus activation on systemd hosts, an
 * OpenRC script on OpenRC hosts, D-Bus activation alone elsewhere
 * (./service-files.ts says which files). Each says what it did, line by
 * line; running either twice changes nothing the second time. Files that
 * are not ours (no marker line) are never replaced or removed.
 * @module
 */

import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  detectInit, isOurs, OPENRC_SERVICE, renderTemplate, serviceFiles, SERVICE_UNIT, SOCKET_UNIT, SYSTEMD_UNIT_DIR, type InitKind, type RenderContext, type ServiceFile,
} from './service-files.ts'
import { DEFAULT_SYSTEM_BUS_ADDRESS, ourPolicy, POLICY_DIRS, POLICY_NAMES } from './system-bus.ts'
import { BusConnection } from '../wire/dbus/bus.ts'

export const SERVICE_COMMANDS = ['install-service', 'uninstall-service'] as const

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url))
const TEMPLATE_DIR = join(PACKAGE_DIR, 'data/service')

const HELP = `machined install-service [--now] [--init=systemd|openrc|other]
machined uninstall-service [--init=systemd|openrc|other]

Install (or remove) what runs machined-ts as this host's service: on a host
whose PID 1 is systemd, machined-ts.service and .socket (enabled; they take
the place of systemd-machined.service, which is masked until
uninstall-service unmasks it), the machined-spawn@ and
machined-vmspawn@ template units and D-Bus activation; under OpenRC, the
init script (added to the default runlevel) and D-Bus activation; elsewhere
D-Bus activation alone. Files go under /etc and /usr/local; the bus policy
for org.freedesktop.machine1 is added when the host has none. Needs root.

  --now        Also start the service (install-service)
  --init=KIND  Install for this init instead of the one detected
`

/**
 * systemd-machined.service claims the same BusName=: systemd refuses to load
 * a second unit with a bus name another loaded unit has ("Two services
 * allocated for the same bus name"), and our Conflicts= loads it, so it is
 * masked while machined-ts is installed, and unmasked again on uninstall.
 */
const MACHINED_UNIT = 'systemd-machined.service'
const MACHINED_MASK = `${SYSTEMD_UNIT_DIR}/${MACHINED_UNIT}`

function machinedShipped(): boolean {
  return ['/lib/systemd/system', '/usr/lib/systemd/system'].some((d) => existsSync(join(d, MACHINED_UNIT)))
}

function machinedMasked(): boolean {
  try { return readlinkSync(MACHINED_MASK) === '/dev/null' } catch { return false }
}

/** One line per action, on stdout. */
type Say = (line: string) => void

function onPath(command: string): boolean {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)
  return dirs.some((d) => d !== '' && existsSync(join(d, command)))
}

function version(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version
}

/** Runs an init system's command and says so; a failure is reported, and fatal only when `required`. */
function runCommand(argv: string[], say: Say, options: { required: boolean }): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const ok = r.status === 0
  if (ok) say(`Ran ${argv.join(' ')}`)
  else {
    const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''
    if (options.required) throw new Error(`${argv.join(' ')} failed: ${why}`)
    say(`Ran ${argv.join(' ')} (failed, ignoring: ${why})`)
  }
  return ok
}

/** Writes `content` atomically (temporary file + rename) unless it is there already. */
function writeIfChanged(path: string, content: string, mode: number, say: Say): void {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : undefined
  if (old === content) { say(`Unchanged ${path}`); return }
  if (old !== undefined && !isOurs(old)) throw new Error(`${path} exists and was not installed by machined; remove or move it first`)
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
  const tmp = `${path}.machined-tmp-${process.pid}`
  try {
    writeFileSync(tmp, content, { mode })
    chmodSync(tmp, mode)
    renameSync(tmp, path)
  } finally {
    rmSync(tmp, { force: true })
  }
  say(`${old === undefined ? 'Installed' : 'Updated'} ${path}`)
}

function installFile(file: ServiceFile, ctx: RenderContext, say: Say): void {
  const template = readFileSync(join(TEMPLATE_DIR, file.template), 'utf8')
  const content = renderTemplate(template, ctx)
  if (file.config === true && existsSync(file.path)) { say(`Kept ${file.path} (configuration)`); return }
  writeIfChanged(file.path, content, file.mode, say)
}

/** Where our bus policy for `file` goes. */
function policyPath(file: string): string {
  return `/etc/dbus-1/system.d/${file}`
}

/** Our bus policies (machine1, import1) go to /etc only when no policy for the name exists (systemd-container ships them). */
function installPolicies(say: Say): void {
  for (const file of POLICY_NAMES) {
    const present = POLICY_DIRS.map((d) => join(d, file)).find((p) => existsSync(p))
    const ours = readFileSync(ourPolicy(file), 'utf8')
    if (present !== undefined) { say(`${present === policyPath(file) && readFileSync(present, 'utf8') === ours ? 'Unchanged' : 'Kept'} ${present} (bus policy)`); continue }
    writeIfChanged(policyPath(file), ours, 0o644, say)
  }
}

function removeFile(file: ServiceFile, ctx: RenderContext, say: Say): void {
  if (!existsSync(file.path)) return
  const text = readFileSync(file.path, 'utf8')
  if (file.config === true) {
    const template = readFileSync(join(TEMPLATE_DIR, file.template), 'utf8')
    if (text !== renderTemplate(template, ctx)) { say(`Kept ${file.path} (changed configuration)`); return }
  } else if (!isOurs(text)) { say(`Kept ${file.path} (not installed by machined)`); return }
  rmSync(file.path)
  say(`Removed ${file.path}`)
}

function install(kind: InitKind, now: boolean, say: Say): void {
  const ctx: RenderContext = { node: realpathSync(process.execPath), packageDir: realpathSync(PACKAGE_DIR), version: version() }
  for (const file of serviceFiles(kind)) installFile(file, ctx, say)
  installPolicies(say)
  if (kind === 'systemd') {
    if (machinedMasked()) say(`Kept ${MACHINED_UNIT} masked`)
    else if (machinedShipped()) runCommand(['systemctl', 'mask', ...(now ? ['--now'] : []), MACHINED_UNIT], say, { required: true })
    runCommand(['systemctl', 'daemon-reload'], say, { required: true })
    // Enabling makes dbus-org.freedesktop.machine1.service point at us (Alias=), and enables the socket (Also=).
    runCommand(['systemctl', 'enable', SERVICE_UNIT], say, { required: true })
    if (now) runCommand(['systemctl', 'start', SOCKET_UNIT, SERVICE_UNIT], say, { required: true })
    else say(`Start it with: systemctl start ${SERVICE_UNIT} (this stops a running ${MACHINED_UNIT}, which conflicts with it), or let the first call start it`)
  } else if (kind === 'openrc') {
    runCommand(['rc-update', 'add', OPENRC_SERVICE, 'default'], say, { required: true })
    if (now) runCommand(['rc-service', OPENRC_SERVICE, 'start'], say, { required: true })
    else say(`Start it with: rc-service ${OPENRC_SERVICE} start, or let the first call on the bus start it`)
  } else {
    say('The bus starts machined-ts on the first call to org.freedesktop.machine1; to run it from your init system instead, run `machined --no-embedded-bus` as root after the bus')
  }
}

function uninstall(kind: InitKind, say: Say): void {
  const ctx: RenderContext = { node: realpathSync(process.execPath), packageDir: realpathSync(PACKAGE_DIR), version: version() }
  if (kind === 'systemd') {
    runCommand(['systemctl', 'disable', '--now', SOCKET_UNIT, SERVICE_UNIT], say, { required: false })
  } else if (kind === 'openrc') {
    if (existsSync(`/etc/init.d/${OPENRC_SERVICE}`)) {
      runCommand(['rc-service', OPENRC_SERVICE, 'stop'], say, { required: false })
      runCommand(['rc-update', 'del', OPENRC_SERVICE, 'default'], say, { required: false })
    }
  }
  for (const file of serviceFiles(kind)) removeFile(file, ctx, say)
  for (const file of POLICY_NAMES) {
    const path = policyPath(file)
    if (!existsSync(path) || readFileSync(path, 'utf8') !== readFileSync(ourPolicy(file), 'utf8')) continue
    rmSync(path)
    say(`Removed ${path}`)
  }
  if (kind === 'systemd') {
    if (machinedMasked() && machinedShipped()) runCommand(['systemctl', 'unmask', MACHINED_UNIT], say, { required: false })
    runCommand(['systemctl', 'daemon-reload'], say, { required: true })
  }
}

/**
 * Asks the running system bus to read its configuration and service
 * directories again, so a new activation file or policy counts at once (a
 * bus that was started before /usr/local/share/dbus-1/system-services
 * existed does not watch it). No bus running is fine: it reads them when it starts.
 */
async function reloadBus(say: Say): Promise<void> {
  const address = process.env.DBUS_SYSTEM_BUS_ADDRESS ?? DEFAULT_SYSTEM_BUS_ADDRESS
  let bus: BusConnection | undefined
  try {
    bus = await BusConnection.connect(address, { watchNameOwners: false, unixFd: false })
    await bus.callDriver('ReloadConfig', '', [])
    say('Asked the system bus to reload its configuration')
  } catch (err) {
    say(`Could not ask the system bus to reload its configuration, ignoring: ${(err as Error).message}`)
  } finally {
    bus?.close()
  }
}

/** `machined install-service|uninstall-service [OPTIONS]`; resolves to the exit code. */
export async function runServiceCommand(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  let values: { now?: boolean; init?: string; help?: boolean }
  try {
    values = parseArgs({ args: rest, options: { now: { type: 'boolean' }, init: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values
  } catch (err) {
    process.stderr.write(`machined ${command}: ${(err as Error).message}\n`)
    return 2
  }
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  const kinds: readonly string[] = ['systemd', 'openrc', 'other']
  if (values.init !== undefined && !kinds.includes(values.init)) {
    process.stderr.write(`machined ${command}: Invalid --init=${values.init} (systemd, openrc or other)\n`)
    return 2
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(`machined ${command}: Must be run as root: it writes under /etc and /usr/local and asks the init system to reload.\n`)
    return 1
  }
  const kind = (values.init as InitKind | undefined) ?? detectInit({ exists: existsSync, onPath })
  const say: Say = (line) => process.stdout.write(`${line}\n`)
  say(`Init system: ${kind}${values.init === undefined ? ' (detected)' : ''}`)
  try {
    if (command === 'install-service') install(kind, values.now === true, say)
    else uninstall(kind, say)
    await reloadBus(say)
    return 0
  } catch (err) {
    process.stderr.write(`machined ${command}: ${(err as Error).message}\n`)
    return 1
  }
}
