/**
 * The org.freedesktop.import1 D-Bus contract of systemd-importd 252: the
 * Manager and Transfer interfaces, every method, property and signal in
 * the order importd.c declares them (captured in
 * test/fixtures/importd-252/). Every method is SD_BUS_VTABLE_UNPRIVILEGED
 * (polkit decides), so none carries the Privileged annotation.
 * @module
 */

import type { InterfaceDescription } from './org.freedesktop.machine1.ts'

export const IMPORT_MANAGER_INTERFACE_NAME = 'org.freedesktop.import1.Manager'
export const TRANSFER_INTERFACE_NAME = 'org.freedesktop.import1.Transfer'

const TRANSFER_OUT = [{ name: 'transfer_id', type: 'u', direction: 'out' }, { name: 'transfer_path', type: 'o', direction: 'out' }] as const

const IMPORT_ARGS = [
  { name: 'fd', type: 'h', direction: 'in' },
  { name: 'local_name', type: 's', direction: 'in' },
  { name: 'force', type: 'b', direction: 'in' },
  { name: 'read_only', type: 'b', direction: 'in' },
  ...TRANSFER_OUT,
] as const

const EXPORT_ARGS = [
  { name: 'local_name', type: 's', direction: 'in' },
  { name: 'fd', type: 'h', direction: 'in' },
  { name: 'format', type: 's', direction: 'in' },
  ...TRANSFER_OUT,
] as const

const PULL_ARGS = [
  { name: 'url', type: 's', direction: 'in' },
  { name: 'local_name', type: 's', direction: 'in' },
  { name: 'verify_mode', type: 's', direction: 'in' },
  { name: 'force', type: 'b', direction: 'in' },
  ...TRANSFER_OUT,
] as const

export const IMPORT_MANAGER_INTERFACE = {
  name: IMPORT_MANAGER_INTERFACE_NAME,
  methods: [
    { name: 'ImportTar', args: IMPORT_ARGS },
    { name: 'ImportRaw', args: IMPORT_ARGS },
    { name: 'ImportFileSystem', args: IMPORT_ARGS },
    { name: 'ExportTar', args: EXPORT_ARGS },
    { name: 'ExportRaw', args: EXPORT_ARGS },
    { name: 'PullTar', args: PULL_ARGS },
    { name: 'PullRaw', args: PULL_ARGS },
    { name: 'ListTransfers', args: [{ name: 'transfers', type: 'a(usssdo)', direction: 'out' }] },
    { name: 'CancelTransfer', args: [{ name: 'transfer_id', type: 'u', direction: 'in' }] },
  ],
  properties: [],
  signals: [
    { name: 'TransferNew', args: [{ name: 'transfer_id', type: 'u' }, { name: 'transfer_path', type: 'o' }] },
    { name: 'TransferRemoved', args: [{ name: 'transfer_id', type: 'u' }, { name: 'transfer_path', type: 'o' }, { name: 'result', type: 's' }] },
  ],
} as const satisfies InterfaceDescription

export const TRANSFER_INTERFACE = {
  name: TRANSFER_INTERFACE_NAME,
  methods: [{ name: 'Cancel', args: [] }],
  properties: [
    { name: 'Id', type: 'u', emitsChange: 'const' },
    { name: 'Local', type: 's', emitsChange: 'const' },
    { name: 'Remote', type: 's', emitsChange: 'const' },
    { name: 'Type', type: 's', emitsChange: 'const' },
    { name: 'Verify', type: 's', emitsChange: 'const' },
    // Changes without a signal: importd 252 emits none (newer systemd has ProgressUpdate).
    { name: 'Progress', type: 'd', emitsChange: 'false' },
  ],
  signals: [{ name: 'LogMessage', args: [{ name: 'priority', type: 'u' }, { name: 'line', type: 's' }] }],
} as const satisfies InterfaceDescription
