/**
 * os-release(5) as PID 1 of a container sees the host's: nspawn passes
 * every field of the host's os-release as `container_host_<field in lower
 * case>` (load_os_release_pairs_with_prefix()), and the Container Interface
 * names the ID-like ones the guest may rely on.
 * @module
 */

/** Parses os-release's shell-like KEY=value lines (quotes and backslash escapes as in env files). */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    if (eq <= 0) continue
    const key = line.slice(0, eq)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) continue
    fields.set(key, unquote(line.slice(eq + 1)))
  }
  return fields
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1)
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(["\\$`])/g, '$1')
  return v.replace(/\\(.)/g, '$1')
}

/** `container_host_id=debian`, … for each field of the host's os-release, in file order. */
export function containerHostEnvironment(osRelease: ReadonlyMap<string, string>): string[] {
  return [...osRelease].map(([key, value]) => `container_host_${key.toLowerCase()}=${value}`)
}
