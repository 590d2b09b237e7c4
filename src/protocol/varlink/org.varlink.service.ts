/**
 * org.varlink.service: the interface every Varlink server implements
 * (introspection and the standard errors), as systemd declares it in
 * src/libsystemd/sd-varlink/varlink-org.varlink.service.c, plus
 * io.systemd.System, the error sd-varlink sends for a bare errno.
 * @module
 */

import type { VarlinkInterface } from './idl.ts'

export const SERVICE_INTERFACE_NAME = 'org.varlink.service'

export const SERVICE_ERRORS = {
  INTERFACE_NOT_FOUND: 'org.varlink.service.InterfaceNotFound',
  METHOD_NOT_FOUND: 'org.varlink.service.MethodNotFound',
  METHOD_NOT_IMPLEMENTED: 'org.varlink.service.MethodNotImplemented',
  INVALID_PARAMETER: 'org.varlink.service.InvalidParameter',
  PERMISSION_DENIED: 'org.varlink.service.PermissionDenied',
  EXPECTED_MORE: 'org.varlink.service.ExpectedMore',
} as const

/**
 * sd_varlink_error_errno(): a method that fails with a plain errno answers
 * this, with parameters {origin: "linux", errno, errnoName}.
 */
export const SYSTEM_ERROR = 'io.systemd.System'

export const SERVICE_INTERFACE: VarlinkInterface = {
  name: SERVICE_INTERFACE_NAME,
  comment: 'The Varlink Service Interface is provided by every varlink service. It\ndescribes the service and the interfaces it implements.',
  symbols: [
    {
      kind: 'method', name: 'GetInfo',
      comment: 'Get a list of all the interfaces a service provides and information\nabout the implementation.',
      input: [],
      output: [
        { name: 'vendor', type: 'string' },
        { name: 'product', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'url', type: 'string' },
        { name: 'interfaces', type: 'string', array: true },
      ],
    },
    {
      kind: 'method', name: 'GetInterfaceDescription',
      comment: 'Get the description of an interface that is implemented by this service.',
      input: [{ name: 'interface', type: 'string' }],
      output: [{ name: 'description', type: 'string' }],
    },
    { kind: 'error', name: 'InterfaceNotFound', comment: 'The requested interface was not found.', fields: [{ name: 'interface', type: 'string' }] },
    { kind: 'error', name: 'MethodNotFound', comment: 'The requested method was not found', fields: [{ name: 'method', type: 'string' }] },
    {
      kind: 'error', name: 'MethodNotImplemented',
      comment: 'The interface defines the requested method, but the service does not\nimplement it.',
      fields: [{ name: 'method', type: 'string' }],
    },
    { kind: 'error', name: 'InvalidParameter', comment: 'One of the passed parameters is invalid.', fields: [{ name: 'parameter', type: 'string' }] },
    { kind: 'error', name: 'PermissionDenied', comment: 'Client is denied access', fields: [] },
    { kind: 'error', name: 'ExpectedMore', comment: 'Method is expected to be called with \'more\' set to true, but wasn\'t', fields: [] },
  ],
}
