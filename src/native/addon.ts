/**
 * Where the package's native parts (native/, built by `npm ci`) are found,
 * for every layer that uses them (backends/ for the daemon, spawn/,
 * vmspawn/): the N-API module machined_native.c, loaded lazily so code that
 * never needs it runs without it, and the helper programs. Each user
 * declares the functions it calls in its own typed wrapper
 * (src/backends/native.ts, src/spawn/native.ts, src/vmspawn/signals.ts);
 * this module imports nothing of ours, so any layer may import it.
 * @module
 */

import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

// The same relative path from src/native (tsx) and dist/native (built).
const BUILD_DIR = new URL('../../native/build/Release/', import.meta.url)

/** native/machined_enter.c: acts inside a machine's namespaces (ptys, sessions, sockets, copies, bind mounts). */
export const ENTER_PROGRAM = fileURLToPath(new URL('machined-enter', BUILD_DIR))

/** native/machined_spawn_helper.c: clones a container and carries out its mount plan. */
export const SPAWN_HELPER_PROGRAM = fileURLToPath(new URL('machined-spawn-helper', BUILD_DIR))

let addon: unknown

/** The N-API module, typed as the caller's view of it (the functions it uses). */
export function loadAddon<Addon>(): Addon {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(fileURLToPath(new URL('machined_native.node', BUILD_DIR)))
    } catch (err) {
      throw new Error(`The native module is missing (${(err as Error).message}); run \`npm ci\` or \`npx node-gyp rebuild --directory=native\``, { cause: err })
    }
  }
  return addon as Addon
}

const modules = new Map<string, unknown>()

/**
 * Another N-API module of native/, by its binding.gyp target name (e.g.
 * machined_vsock), typed as the caller's view of it; loaded once.
 */
export function loadNativeModule<Module>(target: string): Module {
  let module = modules.get(target)
  if (module === undefined) {
    try {
      module = createRequire(import.meta.url)(fileURLToPath(new URL(`${target}.node`, BUILD_DIR)))
    } catch (err) {
      throw new Error(`The native module ${target} is missing (${(err as Error).message}); run \`npm ci\` or \`npx node-gyp rebuild --directory=native\``, { cause: err })
    }
    modules.set(target, module)
  }
  return module as Module
}
