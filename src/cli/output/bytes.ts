/**
 * Sizes as systemd writes and reads them: protocol/bytes.ts, which the
 * daemon's transfers use too.
 * @module
 */

export { formatBytes, parseSize } from '../../protocol/bytes.ts'
