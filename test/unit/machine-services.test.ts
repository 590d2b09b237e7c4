// Machines from images, as services, in the core (core/machine-services.ts)
// against fake ports and a scripted MachineServices: start resolves once
// the machine registers, fails with what the launcher said when it ends
// first, does nothing for a machine that already runs as a service, and
// refuses the rest as machinectl and systemd would (root only, the image
// must exist, .host is no machine to boot, a name taken by another
// machine); the image a machine runs from is on record (IMAGE=,
// IMAGE_PATH=) and shown to root and the owner only.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Caller } from '../../src/core/authorization.ts'
import { describeMachine, setMachineServiceEnabled, startMachineService, START_TIMEOUT_MS } from '../../src/core/machine-services.ts'
import { registerMachine } from '../../src/core/register.ts'
import { formatMachineState, parseMachineState } from '../../src/core/state-file.ts'
import type { Image, Launch, MachineServices } from '../../src/core/ports.ts'
import { AccessDeniedError, FailedError, InvalidArgsError, MachineExistsError, NoSuchImageError } from '../../src/protocol/errors.ts'
import { LEADER, registerRequest, rejectsWith, settle, world } from '../helpers/manager-fixtures.ts'

const ROOT: Caller = { uid: 0, pid: 999 }
const ALICE: Caller = { uid: 1000, pid: 5000 }

/** A MachineServices that does what each test scripts when asked to start. */
class ScriptedServices implements MachineServices {
  readonly started: string[] = []
  readonly enabledNames = new Set<string>()
  readonly running = new Set<string>()
  onStart: (image: Image, end: (message: string) => void) => void = () => undefined

  async start(image: Image): Promise<Launch> {
    this.started.push(image.name)
    let end!: (message: string) => void
    const ended = new Promise<string>((r) => { end = r })
    this.running.add(image.name)
    this.onStart(image, end)
    return { ended }
  }

  async runs(name: string): Promise<boolean> { return this.running.has(name) }
  async enable(image: Image): Promise<void> { this.enabledNames.add(image.name) }
  async disable(name: string): Promise<void> { this.enabledNames.delete(name) }
  async enabled(name: string): Promise<boolean> { return this.enabledNames.has(name) }
}

void describe('startMachineService', () => {
  test('resolves once the machine registers, with the image it runs from on record', async () => {
    const { ports, manager } = world()
    ports.images.add('golden')
    ports.processes.spawn(LEADER)
    const services = new ScriptedServices()
    services.onStart = (image) => {
      // The launcher registers a little later, telling which image it runs.
      setImmediate(() => void registerMachine(manager, registerRequest({ name: image.name, imageName: image.name, imagePath: image.path }), ROOT))
    }
    await startMachineService(manager, services, 'golden', ROOT)
    assert.deepEqual(services.started, ['golden'])
    assert.ok(manager.find('golden') !== undefined)
    const d = await describeMachine(manager, services, 'golden', ROOT)
    assert.deepEqual(d, { imageName: 'golden', imagePath: '/var/lib/machines/golden', enabled: false })
    // Others see which image, not where it is (as RootDirectory).
    assert.deepEqual(await describeMachine(manager, services, 'golden', ALICE), { imageName: 'golden', imagePath: undefined, enabled: false })
    // Started again while it runs as a service: nothing to do.
    await startMachineService(manager, services, 'golden', ROOT)
    assert.deepEqual(services.started, ['golden'])
    const saved = ports.state.files.get('golden')!
    assert.match(saved, /^IMAGE=golden\nIMAGE_PATH=\/var\/lib\/machines\/golden\n$/m)
  })

  test('a launcher that ends before its machine registers fails the start with what it said; the operation place is given back', async () => {
    const { ports, manager } = world()
    ports.images.add('broken')
    const services = new ScriptedServices()
    services.onStart = (_image, end) => end('machined-spawn exited with status 1; the end of the log: no init')
    await rejectsWith(startMachineService(manager, services, 'broken', ROOT), FailedError, 'Failed to start machine broken: machined-spawn exited with status 1; the end of the log: no init')
    assert.equal(manager.operations, 0)
  })

  test('a machine that never registers: the start gives up after systemd\'s start timeout', async () => {
    const { ports, manager } = world()
    ports.images.add('slow')
    const services = new ScriptedServices()
    const start = startMachineService(manager, services, 'slow', ROOT)
    await settle()
    ports.clock.advance(START_TIMEOUT_MS)
    await rejectsWith(start, FailedError, 'Machine slow did not register within 90s; its launcher runs on.')
  })

  test('refusals: not root, no such image, .host, an invalid name, a name another machine has', async () => {
    const { ports, manager } = world({ allowUserRegistration: true })
    ports.images.add('golden')
    const services = new ScriptedServices()
    await rejectsWith(startMachineService(manager, services, 'golden', ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(setMachineServiceEnabled(manager, services, 'golden', true, ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(startMachineService(manager, services, 'nope', ROOT), NoSuchImageError, "No image 'nope' known")
    await rejectsWith(setMachineServiceEnabled(manager, services, 'nope', true, ROOT), NoSuchImageError, "No image 'nope' known")
    await rejectsWith(startMachineService(manager, services, 'bad_name', ROOT), InvalidArgsError, 'Invalid machine name bad_name.')
    // .host and hidden images are no machines' names.
    await rejectsWith(startMachineService(manager, services, '.host', ROOT), InvalidArgsError, 'Invalid machine name .host.')
    ports.processes.spawn(LEADER)
    await registerMachine(manager, registerRequest({ name: 'golden' }), ROOT)
    await rejectsWith(startMachineService(manager, services, 'golden', ROOT), MachineExistsError, "Machine 'golden' already exists")
    assert.deepEqual(services.started, [])
  })

  test('enable and disable', async () => {
    const { ports, manager } = world()
    ports.images.add('golden')
    const services = new ScriptedServices()
    await setMachineServiceEnabled(manager, services, 'golden', true, ROOT)
    assert.deepEqual([...services.enabledNames], ['golden'])
    await setMachineServiceEnabled(manager, services, 'golden', false, ROOT)
    assert.deepEqual([...services.enabledNames], [])
  })
})

void describe('the image on record', () => {
  test('IMAGE= and IMAGE_PATH= come after systemd 252\'s keys and read back; a file without them is as before', () => {
    const base = parseMachineState('NAME=web\nSCOPE=machine-web.scope\nROOT=/run/machined-spawn/root/web\nLEADER=42\nCLASS=container\n', 'web').state
    assert.equal(base.imageName, undefined)
    const text = formatMachineState({ ...base, imageName: 'web', imagePath: '/var/lib/machines/web.raw' })
    assert.match(text, /\nCLASS=container\n(.|\n)*IMAGE=web\nIMAGE_PATH=\/var\/lib\/machines\/web\.raw\n$/)
    const again = parseMachineState(text, 'web').state
    assert.deepEqual([again.imageName, again.imagePath], ['web', '/var/lib/machines/web.raw'])
  })

  test('registration checks the image fields', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await rejectsWith(registerMachine(manager, registerRequest({ imageName: 'bad/name' }), ROOT), InvalidArgsError, 'Invalid image name')
    await rejectsWith(registerMachine(manager, registerRequest({ imagePath: 'relative' }), ROOT), InvalidArgsError, 'Image path must be empty or an absolute path')
  })
})
