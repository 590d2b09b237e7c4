// The private system bus of a bench run, inside its private /run.

export const BUS_SOCKET = '/run/dbus/system_bus_socket'
export const BUS_ADDRESS = `unix:path=${BUS_SOCKET}`
export const WORK = '/run/machined-bench' // inside the private /run only

export const DBUS_CONF = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${BUS_ADDRESS}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
`
