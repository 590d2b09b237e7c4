/**
 * Where the package's native parts (native/, built by `npm ci`) are found,
 * for every layer that uses them (backends/ for the daemon, spawn/,
 * vmspawn/): the N-API module (native/addon/), loaded lazily so code that
 * never needs it runs without it, and the helper programs. Each user
 * declares the functions it calls in its own typed wrapper
 * (src/backends/native.ts, src/native/pidfd.ts, src/native/fd-writer.ts,
 * src/native/fd-socket.ts, src/linux/pty.ts, src/vmspawn/signals.ts,
 * src/vmspawn/vsock-native.ts);
 * this module imports nothing of ours, so any layer may import it.
 * @module
 */

import { fileURLToPath } from 'node:url'

// The same relative path from src/native (tsx) and dist/native (built).
const BUILD_DIR = new URL('../../native/build/Release/', import.meta.url)

/** native/enter/: acts inside a machine's namespaces (ptys, sessions, sockets, copies, bind mounts). */
export const ENTER_PROGRAM = fileURLToPath(new URL('machined-enter', BUILD_DIR))

/** native/spawn_helper/: clones a container and carries out its mount plan. */
export const SPAWN_HELPER_PROGRAM = fileURLToPath(new URL('machined-spawn-helper', BUILD_DIR))

/** native/gunzip/: decodes a gzip stream with zlib (gzip'd imports). */
export const GUNZIP_PROGRAM = fileURLToPath(new URL('machined-gunzip', BUILD_DIR))

let addon: unknown

/** The N-API module, typed as the caller's view of it (the functions it uses). */
export function loadAddon<Addon>(): Addon {
  if (addon === undefined) {
    try {
      // What require() does with a .node file, without loading node:module for it (a few ms of a short-lived client's start).
      const module = { exports: {} }
      process.dlopen(module, fileURLToPath(new URL('machined_native.node', BUILD_DIR)))
      addon = module.exports
    } catch (err) {
      throw new Error(`The native module is missing (${(err as Error).message}); run \`npm ci\`, or \`npm run install\` to build it alone`, { cause: err })
    }
  }
  return addon as Addon
}
