# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_netroot_global_optspecs
    string join \n v/verbose q/quiet log-file= h/help V/version
end

function __fish_netroot_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_netroot_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_netroot_using_subcommand
    set -l cmd (__fish_netroot_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c netroot -n "__fish_netroot_needs_command" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_needs_command" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_needs_command" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netroot -n "__fish_netroot_needs_command" -s V -l version -d 'Print version'
complete -c netroot -n "__fish_netroot_needs_command" -f -a "migrate" -d 'Migrate a system onto the plan\'s target (or show what would be done)'
complete -c netroot -n "__fish_netroot_needs_command" -f -a "plan" -d 'Check plans and print the plan format'
complete -c netroot -n "__fish_netroot_needs_command" -f -a "status" -d 'Show which steps of a plan are finished on its target'
complete -c netroot -n "__fish_netroot_needs_command" -f -a "discover" -d 'List AoE or iSCSI targets reachable from this machine'
complete -c netroot -n "__fish_netroot_needs_command" -f -a "server" -d 'Write the server side for a plan: export, DHCP, TFTP, iPXE'
complete -c netroot -n "__fish_netroot_needs_command" -f -a "wizard" -d 'Interactive wizard: probe this machine, ask, show the dry run, migrate'
complete -c netroot -n "__fish_netroot_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l plan -d 'The plan file (JSON, version 1)' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l format -d 'Report format (stdout): text, or json (the report as data; errors too, as {"error": …})' -r -f -a "text\t''
json\t''"
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l progress -d 'Progress while it runs: auto (bars on a terminal, else nothing), bars, json (the event stream: one JSON object per line on stderr, or on --progress-fd; docs/cli.md), none' -r -f -a "auto\t'Bars when stderr is a terminal (and not a dry run), else nothing'
bars\t'indicatif bars on stderr'
json\t'The versioned JSON event stream (stderr or --progress-fd)'
none\t'Nothing'"
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l progress-fd -d 'Write the JSON event stream to this open file descriptor instead of stderr (implies --progress json), e.g. `--progress-fd 3 3>run.jsonl`' -r
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l state-dir -d 'Directory of journals and locks' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l work-dir -d 'Where the target is mounted during the run' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l stop-after -d 'Stop after this step (discover, preflight, partition, format, mount, copy, fstab, initramfs, bootloader, finalize)' -r
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l stop-service -d 'With --resync and a live source: `systemctl stop` this unit before the copy and start it again after (also when the copy fails); repeatable' -r
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l dry-run -d 'Show every command and file the run would execute or write, and change nothing (no journal, no byte of the target)'
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -s y -l yes -d 'Allow destructive steps (partition, format) without asking'
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -l resync -d 'Final sync after a finished migration: copy again only what changed in the source (deletions too), leaving netroot\'s own files in the target alone, then probe fstab, identity, initramfs and bootloader again and redo only what the copy changed (docs/hardware.md)'
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and not __fish_seen_subcommand_from validate schema help" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand plan; and not __fish_seen_subcommand_from validate schema help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and not __fish_seen_subcommand_from validate schema help" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and not __fish_seen_subcommand_from validate schema help" -s h -l help -d 'Print help'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and not __fish_seen_subcommand_from validate schema help" -f -a "validate" -d 'Validate a plan; prints every error with its field path. Also checks what needs this machine: the source tree exists, the CHAP secret files are readable (exit 2 when not)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and not __fish_seen_subcommand_from validate schema help" -f -a "schema" -d 'Print the JSON Schema of the plan format (or, with --events, of one line of `migrate --progress json`\'s event stream)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and not __fish_seen_subcommand_from validate schema help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from validate" -l plan -d 'The plan file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from validate" -l for -d 'What the plan is checked for: `migrate` (the default: the plan\'s fields and this machine\'s facts) or `server` as well (what `netroot server` needs of the plan: client.mac, an IPv4 static address if any; the server\'s own options are asked for by `netroot server` itself)' -r -f -a "migrate\t'`netroot migrate` on this machine'
server\t'`netroot migrate` and `netroot server`'"
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from validate" -l format -d 'Report format: text, or json (`{"valid": true, …}`; the errors as `{"error": {"errors": [{"path", "message"}], …}}`)' -r -f -a "text\t''
json\t''"
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from validate" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from validate" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from validate" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from schema" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from schema" -l events -d 'The event stream\'s schema instead of the plan\'s'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from schema" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from schema" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from schema" -s h -l help -d 'Print help'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from help" -f -a "validate" -d 'Validate a plan; prints every error with its field path. Also checks what needs this machine: the source tree exists, the CHAP secret files are readable (exit 2 when not)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from help" -f -a "schema" -d 'Print the JSON Schema of the plan format (or, with --events, of one line of `migrate --progress json`\'s event stream)'
complete -c netroot -n "__fish_netroot_using_subcommand plan; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand status" -l plan -d 'The plan file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand status" -l state-dir -d 'Directory of journals and locks' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand status" -l format -d 'Report format: text, or json (the same as data; errors too, as {"error": …})' -r -f -a "text\t''
json\t''"
complete -c netroot -n "__fish_netroot_using_subcommand status" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand status" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand status" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand status" -s h -l help -d 'Print help'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and not __fish_seen_subcommand_from aoe iscsi help" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand discover; and not __fish_seen_subcommand_from aoe iscsi help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and not __fish_seen_subcommand_from aoe iscsi help" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and not __fish_seen_subcommand_from aoe iscsi help" -s h -l help -d 'Print help'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and not __fish_seen_subcommand_from aoe iscsi help" -f -a "aoe" -d 'AoE targets (aoe-discover, aoe-stat, sysfs)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and not __fish_seen_subcommand_from aoe iscsi help" -f -a "iscsi" -d 'iSCSI targets at a portal (sendtargets discovery)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and not __fish_seen_subcommand_from aoe iscsi help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from aoe" -l interface -d 'Restrict AoE to this interface (a name or a MAC)' -r
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from aoe" -l wait -d 'Seconds to wait for targets to answer the discover' -r
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from aoe" -l format -d 'Report format: text, or json (the same as data; errors too, as {"error": …})' -r -f -a "text\t''
json\t''"
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from aoe" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from aoe" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from aoe" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from aoe" -s h -l help -d 'Print help'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from iscsi" -l portal -d 'Portal ADDR[:PORT]' -r
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from iscsi" -l format -d 'Report format: text, or json (the same as data; errors too, as {"error": …})' -r -f -a "text\t''
json\t''"
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from iscsi" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from iscsi" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from iscsi" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from iscsi" -s h -l help -d 'Print help'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from help" -f -a "aoe" -d 'AoE targets (aoe-discover, aoe-stat, sysfs)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from help" -f -a "iscsi" -d 'iSCSI targets at a portal (sendtargets discovery)'
complete -c netroot -n "__fish_netroot_using_subcommand discover; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l out -d 'Directory to write the server files into (README.txt says where each goes)' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l plan -d 'Plan file(s); several plans give one DHCP config with a host each' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l format -d 'Report format (stdout): text, or json (files, actions and report lines as data; errors too, as {"error": …})' -r -f -a "text\t''
json\t''"
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l export-device -d 'Backing file or block device to export: PATH for the only plan, or HOSTNAME=PATH (repeat) with several. Default: the plan\'s target.device, else /srv/netroot/HOST.img (`server apply` creates it with the plan\'s target.size)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l interface -d 'The server\'s NIC on the clients\' LAN: vblade serves AoE on it and dnsmasq answers DHCP on it. Required for AoE (the plan\'s target.interface is the client\'s NIC)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l server-ip -d 'The server\'s IPv4 address on the clients\' LAN, with its prefix (192.0.2.1/24): next-server, the portal clients reach when the plan\'s is loopback, and the DHCP subnet. Default: the iSCSI portal\'s address' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l tftp-server -d 'The TFTP server when it is another host' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l subnet -d 'The clients\' DHCP subnet (default: from --server-ip\'s prefix or the clients\' static addresses)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l range -d 'Dynamic range START-END inside the subnet (default: the half of the subnet without the server\'s address)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l dhcp-interface -d 'Interface dnsmasq answers DHCP on (default: --interface)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l tftp-root -d 'The TFTP server\'s root directory' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l ipxe-dir -d 'Where the iPXE binaries are (Debian package ipxe)' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l efi-binary -d 'UEFI iPXE binary' -r -f -a "ipxe\t'ipxe.efi: iPXE\'s own NIC drivers'
snponly\t'snponly.efi: the firmware\'s network driver'"
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l boot-method -d 'How iPXE learns what to boot' -r -f -a "script\t'iPXE fetches the client\'s script (retries, CHAP, readable failure)'
root-path\t'DHCP root-path; iPXE sanboots it itself (no retries, no CHAP)'"
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l retries -d 'sanboot attempts in the iPXE script before it gives up' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l dry-run -d 'Show every file (secrets as ***) and command, change nothing'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l dhcp-proxy -d 'dnsmasq as proxy DHCP, next to the DHCP server the LAN already has: that one hands out the addresses, dnsmasq only says what to boot (no --range; static client addresses come from the other server)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -l allow-any-initiator -d 'Let any iSCSI initiator log in when a plan has no client.initiator_name (default: only the name derived from the plan, which iPXE, the migration and the migrated system all use)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -f -a "apply" -d 'Install the server side on this Debian server: packages, files, services. Idempotent; --dry-run shows everything first'
complete -c netroot -n "__fish_netroot_using_subcommand server; and not __fish_seen_subcommand_from apply help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l root -d 'Install below this directory instead of / (files only: no packages, no services). For staging and tests' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l dhcp -d 'DHCP/TFTP server to set up: dnsmasq (both), isc (isc-dhcp-server + tftpd-hpa) or none (you run DHCP yourself)' -r -f -a "dnsmasq\t''
isc\t''
none\t''"
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l iscsi-target -d 'iSCSI target to serve the iSCSI exports: tgt (user space, /etc/tgt/conf.d) or lio (the kernel\'s target, set up with targetcli and restored at boot by rtslib-fb-targetctl.service)' -r -f -a "tgt\t'tgt (tgtd)'
lio\t'LIO through targetcli'"
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l plan -d 'Plan file(s); several plans give one DHCP config with a host each' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l format -d 'Report format (stdout): text, or json (files, actions and report lines as data; errors too, as {"error": …})' -r -f -a "text\t''
json\t''"
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l export-device -d 'Backing file or block device to export: PATH for the only plan, or HOSTNAME=PATH (repeat) with several. Default: the plan\'s target.device, else /srv/netroot/HOST.img (`server apply` creates it with the plan\'s target.size)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l interface -d 'The server\'s NIC on the clients\' LAN: vblade serves AoE on it and dnsmasq answers DHCP on it. Required for AoE (the plan\'s target.interface is the client\'s NIC)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l server-ip -d 'The server\'s IPv4 address on the clients\' LAN, with its prefix (192.0.2.1/24): next-server, the portal clients reach when the plan\'s is loopback, and the DHCP subnet. Default: the iSCSI portal\'s address' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l tftp-server -d 'The TFTP server when it is another host' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l subnet -d 'The clients\' DHCP subnet (default: from --server-ip\'s prefix or the clients\' static addresses)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l range -d 'Dynamic range START-END inside the subnet (default: the half of the subnet without the server\'s address)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l dhcp-interface -d 'Interface dnsmasq answers DHCP on (default: --interface)' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l tftp-root -d 'The TFTP server\'s root directory' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l ipxe-dir -d 'Where the iPXE binaries are (Debian package ipxe)' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l efi-binary -d 'UEFI iPXE binary' -r -f -a "ipxe\t'ipxe.efi: iPXE\'s own NIC drivers'
snponly\t'snponly.efi: the firmware\'s network driver'"
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l boot-method -d 'How iPXE learns what to boot' -r -f -a "script\t'iPXE fetches the client\'s script (retries, CHAP, readable failure)'
root-path\t'DHCP root-path; iPXE sanboots it itself (no retries, no CHAP)'"
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l retries -d 'sanboot attempts in the iPXE script before it gives up' -r
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l dry-run -d 'Show every file (secrets as ***) and command, change nothing'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l dhcp-proxy -d 'dnsmasq as proxy DHCP, next to the DHCP server the LAN already has: that one hands out the addresses, dnsmasq only says what to boot (no --range; static client addresses come from the other server)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -l allow-any-initiator -d 'Let any iSCSI initiator log in when a plan has no client.initiator_name (default: only the name derived from the plan, which iPXE, the migration and the migrated system all use)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Install the server side on this Debian server: packages, files, services. Idempotent; --dry-run shows everything first'
complete -c netroot -n "__fish_netroot_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand wizard" -l out -d 'Directory for plan.json, the log (netroot-wizard.log) and the server files (default: the current directory)' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand wizard" -l stop-after -d 'Stop after this step (dry run and run; for staged use and tests)' -r
complete -c netroot -n "__fish_netroot_using_subcommand wizard" -l log-file -d 'Also write a full debug log to this file' -r -F
complete -c netroot -n "__fish_netroot_using_subcommand wizard" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c netroot -n "__fish_netroot_using_subcommand wizard" -s q -l quiet -d 'Only errors'
complete -c netroot -n "__fish_netroot_using_subcommand wizard" -s h -l help -d 'Print help'
complete -c netroot -n "__fish_netroot_using_subcommand help; and not __fish_seen_subcommand_from migrate plan status discover server wizard help" -f -a "migrate" -d 'Migrate a system onto the plan\'s target (or show what would be done)'
complete -c netroot -n "__fish_netroot_using_subcommand help; and not __fish_seen_subcommand_from migrate plan status discover server wizard help" -f -a "plan" -d 'Check plans and print the plan format'
complete -c netroot -n "__fish_netroot_using_subcommand help; and not __fish_seen_subcommand_from migrate plan status discover server wizard help" -f -a "status" -d 'Show which steps of a plan are finished on its target'
complete -c netroot -n "__fish_netroot_using_subcommand help; and not __fish_seen_subcommand_from migrate plan status discover server wizard help" -f -a "discover" -d 'List AoE or iSCSI targets reachable from this machine'
complete -c netroot -n "__fish_netroot_using_subcommand help; and not __fish_seen_subcommand_from migrate plan status discover server wizard help" -f -a "server" -d 'Write the server side for a plan: export, DHCP, TFTP, iPXE'
complete -c netroot -n "__fish_netroot_using_subcommand help; and not __fish_seen_subcommand_from migrate plan status discover server wizard help" -f -a "wizard" -d 'Interactive wizard: probe this machine, ask, show the dry run, migrate'
complete -c netroot -n "__fish_netroot_using_subcommand help; and not __fish_seen_subcommand_from migrate plan status discover server wizard help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netroot -n "__fish_netroot_using_subcommand help; and __fish_seen_subcommand_from plan" -f -a "validate" -d 'Validate a plan; prints every error with its field path. Also checks what needs this machine: the source tree exists, the CHAP secret files are readable (exit 2 when not)'
complete -c netroot -n "__fish_netroot_using_subcommand help; and __fish_seen_subcommand_from plan" -f -a "schema" -d 'Print the JSON Schema of the plan format (or, with --events, of one line of `migrate --progress json`\'s event stream)'
complete -c netroot -n "__fish_netroot_using_subcommand help; and __fish_seen_subcommand_from discover" -f -a "aoe" -d 'AoE targets (aoe-discover, aoe-stat, sysfs)'
complete -c netroot -n "__fish_netroot_using_subcommand help; and __fish_seen_subcommand_from discover" -f -a "iscsi" -d 'iSCSI targets at a portal (sendtargets discovery)'
complete -c netroot -n "__fish_netroot_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "apply" -d 'Install the server side on this Debian server: packages, files, services. Idempotent; --dry-run shows everything first'
