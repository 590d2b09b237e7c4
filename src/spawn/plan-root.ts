/**
 * How the container's root file system is put together before pivot_root
 * (nspawn.c outer_child(): the directory, or the dissected image mounted
 * on a temporary directory; --ephemeral, --read-only). Pure, as plan.ts:
 * the steps say what the helper does, in the container's new mount
 * namespace, so every mount here goes with that namespace.
 *
 * - A directory: pivot_root straight into it.
 * - A raw image: its root file system through an auto-cleared loop device
 *   (the helper's loop-mount step), on a staging directory the helper makes
 *   on the host (empty there: the mount lives only in the container's
 *   namespace) and removes at the end.
 * - Ephemeral: an overlay whose lower layer is the tree (the directory, or
 *   the raw image's file system mounted read-only) and whose upper layer is
 *   a scratch directory machined-spawn made for this run (so changes live
 *   across the guest's reboots, as on nspawn's snapshot) and removes when
 *   it ends; the helper removes it instead when machined-spawn died first.
 * - Read-only: the root and every mount below it, made so before pivot_root.
 * @module
 */

import type { PlanStep } from './plan.ts'

export type RootSetup =
  | { readonly kind: 'directory'; readonly path: string }
  | {
    readonly kind: 'raw'
    /** The image file (or block device). */
    readonly image: string
    /** Where its root file system starts, and how long it is (undefined: to the end). */
    readonly offset: bigint
    readonly size: bigint | undefined
    /** blkid's name for the file system. */
    readonly fsType: string
  }

export interface RootInput {
  readonly setup: RootSetup
  readonly readOnly: boolean
  /** The run's scratch directory for an ephemeral overlay (holding upper/ and work/), or undefined. */
  readonly scratch: string | undefined
  /** Host directories for mount points, this container's own: `${runtime}/root/NAME` and `${runtime}/lower/NAME`. */
  readonly staging: { readonly root: string; readonly lower: string }
}

/** File systems that replay their journal even when mounted read-only, unless told not to. */
const NORECOVERY = new Set(['ext3', 'ext4', 'xfs'])

function step(op: string, ...args: (string | null)[]): PlanStep {
  return { op, args }
}

/** overlayfs splits its options at "," and lowerdir at ":"; a backslash escapes either (and itself). */
export function overlayEscape(path: string): string {
  return path.replace(/[\\,:]/g, (c) => `\\${c}`)
}

/** The helper's host steps (made before the clone) and the container's steps up to and including pivot_root. */
export function rootSteps(input: RootInput): { host: PlanStep[]; container: PlanStep[]; root: string } {
  const { setup, scratch, staging } = input
  const host: PlanStep[] = []
  const container: PlanStep[] = []
  let lower: string
  if (setup.kind === 'directory') {
    lower = setup.path
  } else {
    // Read-only when asked, or when it is only the lower layer of an overlay.
    const ro = input.readOnly || scratch !== undefined
    const target = scratch === undefined ? staging.root : staging.lower
    host.push(step('host-dir', target))
    const data = ro && NORECOVERY.has(setup.fsType) ? 'norecovery' : null
    container.push(step('loop-mount', setup.image, String(setup.offset), String(setup.size ?? 0n), setup.fsType, target, ro ? 'ro' : null, data))
    lower = target
  }
  let root = lower
  if (scratch !== undefined) {
    host.push(step('host-dir', staging.root), step('host-orphan-dir', scratch))
    const options = `lowerdir=${overlayEscape(lower)},upperdir=${overlayEscape(`${scratch}/upper`)},workdir=${overlayEscape(`${scratch}/work`)}`
    container.push(step('mount', 'overlay', staging.root, 'overlay', null, options))
    root = staging.root
  } else if (setup.kind === 'raw') {
    root = staging.root
  }
  container.push(input.readOnly ? step('pivot-root', root, 'ro') : step('pivot-root', root))
  return { host, container, root }
}
