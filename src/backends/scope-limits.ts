/**
 * The pids and memory controllers without systemd, where the layout has
 * them, as systemd 252 uses them for a unit:
 *
 * - Accounting. Every unit gets DefaultMemoryAccounting=yes and
 *   DefaultTasksAccounting=yes (system.conf's defaults; CPU accounting is
 *   on by default only where it is cheap, on a pure cgroup2 host, and IO
 *   accounting is off), so on a hybrid or legacy host systemd makes each
 *   unit's cgroup in the v1 memory and pids hierarchies too and moves its
 *   processes there (unit_get_target_mask() → cg_create_everywhere(),
 *   cg_attach_everywhere()). So do we, for the scopes we make: that is
 *   what gives a machine its own memory.usage_in_bytes and pids.current.
 *   A scope created with MemoryAccounting=no or TasksAccounting=no is left
 *   out of that hierarchy (unless a limit needs it).
 * - Limits. TasksMax= and MemoryMax= as cgroup_context_apply() writes
 *   them: cgroup2's pids.max and memory.max where its root offers the
 *   controller (enabled in cgroup.subtree_control down to the scope's
 *   parent, as systemd enables controllers for its slices), else the v1
 *   controller's pids.max and memory.limit_in_bytes (a controller is bound
 *   to one hierarchy at a time: on a hybrid host pids and memory are
 *   v1's). Where neither has it, the limit cannot be enforced and the log
 *   says so.
 *
 * On a pure cgroup2 host accounting alone enables no controller: systemd
 * would enable memory and pids down to every unit; we do so only for a
 * scope with a limit (docs/compat.md).
 * @module
 */

import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Log } from '../core/ports.ts'
import type { ScopeSettings } from '../core/scope-properties.ts'
import type { CgroupLayout } from '../linux/cgroup-layout.ts'

type Limit = 'pids' | 'memory'

/** Where a limit goes: cgroup2 (the scope's own directory there) or a v1 hierarchy. */
interface Placement {
  readonly controller: Limit
  readonly hierarchy: string
  readonly v1: boolean
}

function words(path: string): string[] {
  try {
    return readFileSync(path, 'latin1').trim().split(/\s+/).filter((w) => w !== '')
  } catch {
    return []
  }
}

/**
 * Where the controller lives. A controller bound to a mounted v1
 * hierarchy cannot be offered by cgroup2's root, so a mounted v1 hierarchy
 * settles it without reading cgroup.controllers (every registration asks).
 */
function placement(layout: CgroupLayout, controller: Limit): Placement | undefined {
  const v1 = controller === 'pids' ? layout.pidsV1 : layout.memoryV1
  if (v1 !== undefined) return { controller, hierarchy: v1, v1: true }
  if (layout.unified !== undefined && words(join(layout.unified, 'cgroup.controllers')).includes(controller)) {
    return { controller, hierarchy: layout.unified, v1: false }
  }
  return undefined
}

function wanted(settings: ScopeSettings): Limit[] {
  return [...(settings.tasksMax === undefined ? [] : ['pids' as const]), ...(settings.memoryMax === undefined ? [] : ['memory' as const])]
}

/** The accounting properties we honour; the rest of the scope's unenforced properties stay unenforced. */
export const ACCOUNTING_PROPERTIES: Readonly<Record<string, Limit>> = { TasksAccounting: 'pids', MemoryAccounting: 'memory' }

/** The controllers the scope's accounting wants: both by default, less those the caller turned off (the last value counts). */
function accounted(settings: ScopeSettings): Limit[] {
  const on = new Map<Limit, boolean>([['memory', true], ['pids', true]])
  for (const p of settings.unenforced) {
    const controller = ACCOUNTING_PROPERTIES[p.name]
    if (controller !== undefined && typeof p.value === 'boolean') on.set(controller, p.value)
  }
  return [...on].filter(([, yes]) => yes).map(([c]) => c)
}

/**
 * The v1 hierarchies the scope must exist in, besides the ones that track
 * processes: those of the controllers its accounting and its limits want.
 */
export function controllerHierarchies(layout: CgroupLayout, settings: ScopeSettings): string[] {
  const controllers = new Set([...accounted(settings), ...wanted(settings)])
  return [...controllers].map((c) => placement(layout, c)).filter((p): p is Placement => p?.v1 === true).map((p) => p.hierarchy)
}

/**
 * Lets `cgroup`'s directory in cgroup2 have the controller: "+pids" in
 * the cgroup.subtree_control of every cgroup above it that does not
 * enable it yet, from the root down.
 */
function enableDownTo(unified: string, cgroup: string, controller: Limit): void {
  const above: string[] = []
  for (let dir = dirname(cgroup); ; dir = dirname(dir)) {
    above.unshift(join(unified, dir))
    if (dir === '/' || dir === '.') break
  }
  for (const dir of above) {
    const control = join(dir, 'cgroup.subtree_control')
    if (!words(control).includes(controller)) writeFileSync(control, `+${controller}\n`)
  }
}

/**
 * Writes the scope's limits (the scope exists in every hierarchy
 * controllerHierarchies() named). A limit the layout has no controller for is
 * logged, once per scope, and otherwise ignored, as systemd ignores
 * settings for controllers it cannot enable.
 */
export function applyLimits(layout: CgroupLayout, cgroup: string, settings: ScopeSettings, log: Log): void {
  for (const controller of wanted(settings)) {
    const property = controller === 'pids' ? 'TasksMax=' : 'MemoryMax='
    const where = placement(layout, controller)
    if (where === undefined) {
      log.warn(`${property} not enforced: no ${controller} controller in this cgroup layout, ignoring`, { cgroup })
      continue
    }
    if (!where.v1) {
      try {
        enableDownTo(where.hierarchy, cgroup, controller)
      } catch (err) {
        // A slice holding processes itself cannot pass controllers on (cgroup2's "no internal processes" rule).
        log.warn(`${property} not enforced: cannot enable the ${controller} controller above the scope, ignoring`, { cgroup, error: String(err) })
        continue
      }
    }
    const value = `${controller === 'pids' ? settings.tasksMax : settings.memoryMax}\n`
    const file = controller === 'pids' ? 'pids.max' : where.v1 ? 'memory.limit_in_bytes' : 'memory.max'
    writeFileSync(join(where.hierarchy, cgroup, file), value)
  }
}
