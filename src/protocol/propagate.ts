/**
 * Where machined puts mounts for a container (nspawn's convention, which
 * systemd-machined's BindMountMachine relies on): the container manager
 * shares PROPAGATE_DIR/NAME on the host into the guest as INCOMING_DIR, a
 * slave mount, so a mount machined makes below the first appears below the
 * second, to be moved into place from inside. machined-spawn and
 * systemd-nspawn both make it; machined-ts's daemon uses it.
 * @module
 */

export const PROPAGATE_DIR = '/run/systemd/nspawn/propagate'
export const INCOMING_DIR = '/run/host/incoming'
