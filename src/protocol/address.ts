/**
 * Machine addresses as text: machined reports them as a family and raw
 * bytes (GetMachineAddresses, Varlink's addresses), and every reader that
 * shows them (the client library, the fleet records) writes them as
 * glibc's inet_ntop() does, so they read the same everywhere.
 * @module
 */

/** inet_ntop() for the two families machined reports. */
export function formatAddress(family: number, bytes: Uint8Array): string {
  if (family === 2) return Array.from(bytes).join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16))
  // Compress the longest run of zero groups (of two or more), as inet_ntop does.
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i }
    i = j
  }
  if (best < 0) return groups.join(':')
  // An IPv4-compatible or -mapped address ends in dotted quad, as glibc's inet_ntop() writes it.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 'ffff'))) {
    return `::${bestLen === 5 ? 'ffff:' : ''}${Array.from(bytes.subarray(12, 16)).join('.')}`
  }
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
}
