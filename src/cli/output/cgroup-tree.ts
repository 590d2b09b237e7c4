/**
 * A unit's processes as a tree, the way machinectl status prints them below
 * "Unit:" (dump_processes() in bus-unit-procs.c): the processes of a
 * cgroup by PID, right-aligned to the widest PID, then its child cgroups
 * by name, each opening a branch; cgroups without processes anywhere below
 * are left out.
 * @module
 */

import { ellipsize, ellipsisGlyph } from './text-width.ts'

export interface TreeProcess {
  readonly cgroup: string
  readonly pid: number
  readonly name: string
}

interface Node {
  readonly path: string
  readonly pids: Map<number, string>
  readonly children: Node[]
}

/** special_glyph() for the tree: box drawing in UTF-8, ASCII otherwise. */
function glyphs(): { branch: string; right: string; vertical: string; space: string } {
  return ellipsisGlyph() === '…'
    ? { branch: '├─', right: '└─', vertical: '│ ', space: '  ' }
    : { branch: '|-', right: '`-', vertical: '| ', space: '  ' }
}

function build(processes: readonly TreeProcess[]): Map<string, Node> {
  const nodes = new Map<string, Node>()
  const node = (path: string): Node => {
    const p = path === '' ? '/' : path
    let n = nodes.get(p)
    if (n !== undefined) return n
    n = { path: p, pids: new Map(), children: [] }
    nodes.set(p, n)
    if (p !== '/') node(p.slice(0, p.lastIndexOf('/'))).children.push(n)
    return n
  }
  for (const proc of processes) node(proc.cgroup).pids.set(proc.pid, proc.name)
  return nodes
}

function dump(n: Node, prefix: string, columns: number, g: ReturnType<typeof glyphs>): string {
  let out = ''
  const pids = [...n.pids.keys()].sort((a, b) => a - b)
  const width = pids.length === 0 ? 0 : String(pids[pids.length - 1]).length
  pids.forEach((pid, i) => {
    let name = n.pids.get(pid)!
    if (columns !== 0) name = ellipsize(name, Math.max(columns - (2 + width + 1), 20), 100)
    const more = i + 1 < pids.length || n.children.length > 0
    out += `${prefix}${more ? g.branch : g.right}${String(pid).padStart(width)} ${name}\n`
  })
  const children = [...n.children].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
  const childColumns = columns !== 0 ? Math.max(columns - 2, 20) : 0
  children.forEach((child, i) => {
    const more = i + 1 < children.length
    out += `${prefix}${more ? g.branch : g.right}${child.path.slice(child.path.lastIndexOf('/') + 1)}\n`
    out += dump(child, prefix + (more ? g.vertical : g.space), childColumns, g)
  })
  return out
}

/**
 * The tree below `root`, each line starting with `prefix`; `columns` 0
 * means no width limit (output not to a terminal, or --full).
 */
export function formatProcessTree(processes: readonly TreeProcess[], root: string, prefix: string, columns: number): string {
  const top = build(processes).get(root === '' ? '/' : root)
  return top === undefined ? '' : dump(top, prefix, columns, glyphs())
}
