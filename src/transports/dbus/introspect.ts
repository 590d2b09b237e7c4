/**
 * Introspection XML written the way sd-bus writes it (introspect.c): the
 * three standard interfaces first, verbatim, then ours, then child nodes.
 * One space per level; attribute order as sd-bus prints it.
 * @module
 */

import type { InterfaceDescription } from '../../protocol/dbus/org.freedesktop.machine1.ts'

const HEADER =
  '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n' +
  '"https://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n' +
  '<node>\n'

const STANDARD_INTERFACES =
  ' <interface name="org.freedesktop.DBus.Peer">\n' +
  '  <method name="Ping"/>\n' +
  '  <method name="GetMachineId">\n' +
  '   <arg type="s" name="machine_uuid" direction="out"/>\n' +
  '  </method>\n' +
  ' </interface>\n' +
  ' <interface name="org.freedesktop.DBus.Introspectable">\n' +
  '  <method name="Introspect">\n' +
  '   <arg name="xml_data" type="s" direction="out"/>\n' +
  '  </method>\n' +
  ' </interface>\n' +
  ' <interface name="org.freedesktop.DBus.Properties">\n' +
  '  <method name="Get">\n' +
  '   <arg name="interface_name" direction="in" type="s"/>\n' +
  '   <arg name="property_name" direction="in" type="s"/>\n' +
  '   <arg name="value" direction="out" type="v"/>\n' +
  '  </method>\n' +
  '  <method name="GetAll">\n' +
  '   <arg name="interface_name" direction="in" type="s"/>\n' +
  '   <arg name="props" direction="out" type="a{sv}"/>\n' +
  '  </method>\n' +
  '  <method name="Set">\n' +
  '   <arg name="interface_name" direction="in" type="s"/>\n' +
  '   <arg name="property_name" direction="in" type="s"/>\n' +
  '   <arg name="value" direction="in" type="v"/>\n' +
  '  </method>\n' +
  '  <signal name="PropertiesChanged">\n' +
  '   <arg type="s" name="interface_name"/>\n' +
  '   <arg type="a{sv}" name="changed_properties"/>\n' +
  '   <arg type="as" name="invalidated_properties"/>\n' +
  '  </signal>\n' +
  ' </interface>\n'

function interfaceXml(iface: InterfaceDescription): string {
  let out = ` <interface name="${iface.name}">\n`
  for (const p of iface.properties) {
    out += `  <property name="${p.name}" type="${p.type}" access="read">\n`
    out += `   <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="${p.emitsChange}"/>\n`
    out += '  </property>\n'
  }
  for (const m of iface.methods) {
    out += `  <method name="${m.name}">\n`
    for (const a of m.args) out += `   <arg type="${a.type}"${a.name === undefined ? '' : ` name="${a.name}"`} direction="${a.direction}"/>\n`
    if (m.privileged === true) out += '   <annotation name="org.freedesktop.systemd1.Privileged" value="true"/>\n'
    out += '  </method>\n'
  }
  for (const s of iface.signals) {
    out += `  <signal name="${s.name}">\n`
    for (const a of s.args) out += `   <arg type="${a.type}" name="${a.name}"/>\n`
    out += '  </signal>\n'
  }
  return `${out} </interface>\n`
}

/** Child node names are object-path labels, so they need no XML escaping. */
export function introspectXml(interfaces: readonly InterfaceDescription[], children: readonly string[]): string {
  let out = HEADER + STANDARD_INTERFACES
  for (const iface of interfaces) out += interfaceXml(iface)
  for (const child of children) out += ` <node name="${child}"/>\n`
  return `${out}</node>\n`
}
