/**
 * A node:net connection to a Unix stream socket, for the D-Bus connection
 * without fd passing (the others run on the addon's FdSocket).
 * @module
 */

import type { Socket } from 'node:net'

/**
 * The connected socket at `path`; rejects with the connect error. node:net
 * is loaded on first use: with its streams it costs a short-lived client a
 * few ms (bench/README.md), and a client on the native socket never needs it.
 */
export function connectUnixStream(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = process.getBuiltinModule('node:net').createConnection(path)
    socket.once('connect', () => { socket.off('error', reject); resolve(socket) })
    socket.once('error', reject)
  })
}
