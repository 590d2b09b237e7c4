/**
 * What `machined install-service` installs on each kind of host, from the
 * templates shipped in data/service/: the files, their modes, and the
 * commands that make the init system see them. Pure (the caller reads the
 * templates and does the writing), so the set is tested without touching
 * a host.
 *
 *   systemd  /etc/systemd/system/machined-ts.service, .socket,
 *            machined-spawn@.service, machined-vmspawn@.service;
 *            D-Bus activation with SystemdService=machined-ts.service
 *   OpenRC   /etc/init.d/machined-ts, /etc/conf.d/machined-ts;
 *            D-Bus activation with Exec= (the bus starts the daemon)
 *   other    D-Bus activation with Exec= only
 *
 * The D-Bus activation file goes to /usr/local/share/dbus-1/system-services,
 * which dbus-daemon reads before /usr/share/dbus-1/system-services, so it
 * takes precedence over systemd-machined's without changing the distribution's files.
 * @module
 */

/** The kinds of init we install for. */
export type InitKind = 'systemd' | 'openrc' | 'other'

/** First line (after a #! line) of every file we write: only files carrying it are ever replaced or removed. */
export const MARKER_PREFIX = '# Installed by `machined install-service`'

export function marker(version: string): string {
  return `${MARKER_PREFIX} (machined-ts ${version}); \`machined uninstall-service\` removes it.`
}

export interface ServiceFile {
  readonly path: string
  /** Template file name in data/service/. */
  readonly template: string
  readonly mode: number
  /** Admin configuration: written only when absent, never replaced; removed only when unchanged. */
  readonly config?: true
}

export const DBUS_ACTIVATION_PATH = '/usr/local/share/dbus-1/system-services/org.freedesktop.machine1.service'
export const SYSTEMD_UNIT_DIR = '/etc/systemd/system'
export const SERVICE_UNIT = 'machined-ts.service'
export const SOCKET_UNIT = 'machined-ts.socket'
export const OPENRC_SERVICE = 'machined-ts'

/** The files for one kind of host. */
export function serviceFiles(kind: InitKind): ServiceFile[] {
  switch (kind) {
    case 'systemd':
      return [
        { path: `${SYSTEMD_UNIT_DIR}/${SERVICE_UNIT}`, template: 'machined-ts.service.in', mode: 0o644 },
        { path: `${SYSTEMD_UNIT_DIR}/${SOCKET_UNIT}`, template: 'machined-ts.socket', mode: 0o644 },
        { path: `${SYSTEMD_UNIT_DIR}/machined-spawn@.service`, template: 'machined-spawn@.service.in', mode: 0o644 },
        { path: `${SYSTEMD_UNIT_DIR}/machined-vmspawn@.service`, template: 'machined-vmspawn@.service.in', mode: 0o644 },
        { path: DBUS_ACTIVATION_PATH, template: 'org.freedesktop.machine1.service.systemd.in', mode: 0o644 },
      ]
    case 'openrc':
      return [
        { path: `/etc/init.d/${OPENRC_SERVICE}`, template: 'machined-ts.openrc.in', mode: 0o755 },
        { path: `/etc/conf.d/${OPENRC_SERVICE}`, template: 'machined-ts.confd', mode: 0o644, config: true },
        { path: DBUS_ACTIVATION_PATH, template: 'org.freedesktop.machine1.service.exec.in', mode: 0o644 },
      ]
    case 'other':
      return [{ path: DBUS_ACTIVATION_PATH, template: 'org.freedesktop.machine1.service.exec.in', mode: 0o644 }]
  }
}

export interface RenderContext {
  /** The node binary that runs the daemon (process.execPath at install time). */
  readonly node: string
  /** The package's root directory (bin/machined.js is below it). */
  readonly packageDir: string
  readonly version: string
}

/** Paths go into unit lines and shell words unquoted: refuse what would need quoting. */
export function checkInstallPath(path: string): void {
  if (!path.startsWith('/') || /[\s"'\\$`%;&|<>{}]/.test(path)) {
    throw new Error(`Cannot install for ${JSON.stringify(path)}: the path must be absolute and free of spaces, quotes and shell or unit specifier characters`)
  }
}

/** A template with {{NODE}} and {{PACKAGE}} filled in, the marker line first (after a #! line). */
export function renderTemplate(template: string, ctx: RenderContext): string {
  checkInstallPath(ctx.node)
  checkInstallPath(ctx.packageDir)
  const body = template.replaceAll('{{NODE}}', ctx.node).replaceAll('{{PACKAGE}}', ctx.packageDir)
  const unknown = /\{\{[A-Z_]+\}\}/.exec(body)
  if (unknown !== null) throw new Error(`Unknown placeholder ${unknown[0]} in a service template`)
  if (body.startsWith('#!')) {
    const nl = body.indexOf('\n')
    return `${body.slice(0, nl + 1)}${marker(ctx.version)}\n${body.slice(nl + 1)}`
  }
  return `${marker(ctx.version)}\n${body}`
}

/** Whether a file on disk was written by us (any version). */
export function isOurs(text: string): boolean {
  const lines = text.split('\n', 3)
  return lines[0]?.startsWith(MARKER_PREFIX) === true || (lines[0]?.startsWith('#!') === true && lines[1]?.startsWith(MARKER_PREFIX) === true)
}

/** Which init runs this host: systemd as PID 1 (/run/systemd/system, as sd_booted() checks), else OpenRC, else other. */
export function detectInit(probe: { exists(path: string): boolean; onPath(command: string): boolean }): InitKind {
  if (probe.exists('/run/systemd/system')) return 'systemd'
  if (probe.exists('/run/openrc') || probe.onPath('openrc')) return 'openrc'
  return 'other'
}
