// What `machined install-service` installs (src/daemon/service-files.ts and
// the templates in data/service/): the set per kind of host, rendering,
// the marker that guards every later replace or remove, the init detection,
// and the rendered systemd units as systemd-analyze verify reads them.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import {
  checkInstallPath, DBUS_ACTIVATION_PATH, detectInit, isOurs, marker, renderTemplate, serviceFiles, type RenderContext,
} from '../../src/daemon/service-files.ts'
import { REPO } from '../helpers/sandbox.ts'

const ctx: RenderContext = { node: process.execPath, packageDir: REPO.replace(/\/$/, ''), version: '9.9.9' }
const template = (name: string): string => readFileSync(join(REPO, 'data/service', name), 'utf8')

void describe('service files', () => {
  it('installs units and SystemdService= activation on systemd, an init script and Exec= activation elsewhere', () => {
    const paths = (kind: 'systemd' | 'openrc' | 'other'): string[] => serviceFiles(kind).map((f) => f.path)
    assert.deepEqual(paths('systemd'), [
      '/etc/systemd/system/machined-ts.service', '/etc/systemd/system/machined-ts.socket',
      '/etc/systemd/system/machined-spawn@.service', '/etc/systemd/system/machined-vmspawn@.service', DBUS_ACTIVATION_PATH,
    ])
    assert.deepEqual(paths('openrc'), ['/etc/init.d/machined-ts', '/etc/conf.d/machined-ts', DBUS_ACTIVATION_PATH])
    assert.deepEqual(paths('other'), [DBUS_ACTIVATION_PATH])
    for (const kind of ['systemd', 'openrc', 'other'] as const) {
      for (const f of serviceFiles(kind)) {
        assert.ok(f.path.startsWith('/etc/') || f.path.startsWith('/usr/local/'), f.path)
        const text = renderTemplate(template(f.template), ctx)
        assert.equal(isOurs(text), true, f.template)
        assert.doesNotMatch(text, /\{\{/, f.template)
      }
    }
    const systemdBus = renderTemplate(template(serviceFiles('systemd').at(-1)!.template), ctx)
    assert.match(systemdBus, /^SystemdService=machined-ts\.service$/m)
    assert.match(systemdBus, /^Exec=\/bin\/false$/m)
    const execBus = renderTemplate(template(serviceFiles('other')[0]!.template), ctx)
    assert.match(execBus, new RegExp(`^Exec=${process.execPath} ${ctx.packageDir}/bin/machined\\.js --no-embedded-bus$`, 'm'))
    assert.doesNotMatch(execBus, /SystemdService/)
  })

  it('puts the marker after a #! line, and knows its own files from others', () => {
    const script = renderTemplate(template('machined-ts.openrc.in'), ctx)
    assert.equal(script.split('\n')[0], '#!/sbin/openrc-run')
    assert.equal(script.split('\n')[1], marker('9.9.9'))
    assert.equal(isOurs('[Unit]\nDescription=mine\n'), false)
    assert.equal(isOurs(`${marker('0.0.1')}\n[Unit]\n`), true, 'an older version of ours is still ours')
  })

  it('refuses paths that would need quoting in a unit or a shell word', () => {
    for (const bad of ['relative/node', '/opt/my node/bin/node', '/opt/$HOME', '/opt/50%', '/opt/a;b']) assert.throws(() => checkInstallPath(bad), /must be absolute/, bad)
    assert.throws(() => renderTemplate('ExecStart={{NODE}} {{NOPE}}\n', ctx), /Unknown placeholder \{\{NOPE\}\}/)
  })

  it('detects systemd by /run/systemd/system, OpenRC by /run/openrc or its binary', () => {
    const probe = (paths: string[], commands: string[] = []) => ({ exists: (p: string) => paths.includes(p), onPath: (c: string) => commands.includes(c) })
    assert.equal(detectInit(probe(['/run/systemd/system', '/run/openrc'])), 'systemd')
    assert.equal(detectInit(probe(['/run/openrc'])), 'openrc')
    assert.equal(detectInit(probe([], ['openrc'])), 'openrc')
    assert.equal(detectInit(probe([])), 'other')
  })

  it('renders systemd units that systemd-analyze verify accepts without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'machined-units-'))
    try {
      const units = serviceFiles('systemd').filter((f) => f.path.startsWith('/etc/systemd/'))
      for (const f of units) writeFileSync(join(dir, basename(f.path)), renderTemplate(template(f.template), ctx))
      // As install-service leaves the host: systemd-machined.service masked (it has the same BusName=).
      symlinkSync('/dev/null', join(dir, 'systemd-machined.service'))
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', 'machined-ts.service', 'machined-ts.socket', 'machined-spawn@deb.service', 'machined-vmspawn@vm.service'], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:`, SYSTEMD_LOG_LEVEL: 'notice' },
      })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stderr, '', 'systemd-analyze verify warned')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
