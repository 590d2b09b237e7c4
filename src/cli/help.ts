/**
 * `mctl --help`, laid out as machinectl's help is, listing what mctl has
 * (`--version` is src/cli/version.ts).
 * @module
 */

export function helpText(program: string): string {
  return `${program} [OPTIONS...] COMMAND ...

Send control commands to or query the virtual machine and container
registration manager (machined-ts or systemd-machined), like machinectl,
also on hosts where systemd is not PID 1.

Machine Commands:
  list                        List running VMs and containers
  status NAME...              Show VM/container details
  show [NAME...]              Show properties of one or more VMs/containers
  start NAME...               Start an image of the pool as a container (or
                              VM) service; returns once it is registered
  poweroff NAME...            Power off one or more containers
  reboot NAME...              Reboot one or more containers
  terminate NAME...           Terminate one or more VMs/containers
  kill NAME...                Send signal to processes of a VM/container
  login [NAME]                Get a login prompt in a container or on the
                              local host
  shell [[USER@]NAME [COMMAND...]]
                              Invoke a shell (or other command) in a container
                              or on the local host
  enable NAME...              Enable automatic start with machined-ts (or at
                              boot, under systemd)
  disable NAME...             Disable automatic start
  copy-to NAME PATH [PATH]    Copy files from the host to a container
  copy-from NAME PATH [PATH]  Copy files from a container to the host
  bind NAME PATH [PATH]       Bind mount a path from the host into a container

Image Commands:
  list-images                 Show available container and VM images
  image-status [NAME...]      Show image details
  show-image [NAME...]        Show properties of image
  clone NAME NAME             Clone an image
  rename NAME NAME            Rename an image
  read-only NAME [BOOL]       Mark or unmark image read-only
  remove NAME...              Remove an image
  set-limit [NAME] BYTES      Set image or pool size limit (disk quota)
  clean                       Remove hidden (or all) images

Image Transfer Commands:
  pull-tar URL [NAME]         Download a TAR container image
  pull-raw URL [NAME]         Download a RAW container or VM image
  import-tar FILE [NAME]      Import a local TAR container image
  import-raw FILE [NAME]      Import a local RAW container or VM image
  import-fs DIRECTORY [NAME]  Import a local directory container image
  export-tar NAME [FILE]      Export a TAR container image locally
  export-raw NAME [FILE]      Export a RAW container or VM image locally
  list-transfers              Show list of transfers in progress
  cancel-transfer ID...       Cancel a transfer

Options:
  -h --help                   Show this help
     --version                Show package version
     --no-pager               Do not pipe output into a pager (never done)
     --no-legend              Do not show the headers and footers
  -p --property=NAME          Show only properties by this name (repeatable,
                              or a comma-separated list)
  -q --quiet                  Suppress output
  -a --all                    Show all properties, including empty ones;
                              with list-images and clean, hidden images too
     --value                  When showing properties, only print the value
  -l --full                   Do not ellipsize output
     --kill-whom=WHOM         Whom to send signal to (leader or all)
  -s --signal=SIGNAL          Which signal to send (name, number, RTMIN+N;
                              "list" lists them)
     --uid=USER               Specify user ID to invoke shell as
  -E --setenv=VAR[=VALUE]     Add an environment variable for shell
     --max-addresses=INTEGER  Number of internet addresses to show at most
     --read-only              Create read-only bind mount or clone
     --mkdir                  Create directory before bind mounting, if missing
     --force                  Replace files in the way when copying; replace
                              an image of the same name when importing
     --verify=MODE            Verification mode for downloaded images (no,
                              checksum, signature)
     --format=FORMAT          Compress exported image with xz, gzip, bzip2,
                              zstd (default: from the file name)
  -o --output=STRING          Output mode for list: short, json, json-pretty,
                              json-sse, json-seq
     --transport=TRANSPORT    auto (D-Bus if machined is on the system bus,
                              else Varlink; list: Varlink first), dbus or
                              varlink
     --fleet=URL[,URL...]     list and status show every host's machines,
                              read from etcd (default: $MACHINED_FLEET_ETCD;
                              empty: the local machined)
  -H --host=HOST              With --fleet, only this host (hostname or
                              machine ID)
     --fleet-etcd-ca=FILE     CA certificate of the etcd servers (PEM)
     --fleet-etcd-cert=FILE   Client certificate for etcd, and its key:
     --fleet-etcd-key=FILE
     --fleet-etcd-user=NAME   etcd user; password from
     --fleet-etcd-password-file=FILE or $MACHINED_FLEET_ETCD_PASSWORD

Other machinectl options are accepted and ignored. Exit status is 0 on
success and 1 on failure, as machinectl's.
`
}
