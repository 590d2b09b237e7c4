# bash completion for mctl, machined-ts's machinectl.
# Install: copy to /usr/share/bash-completion/completions/mctl, or `source` it.

__mctl_machines() {
    # --full keeps long names whole; the first column is the name.
    mctl list --no-legend --no-pager --full --max-addresses=0 2>/dev/null | while read -r name _; do printf '%s\n' "$name"; done
}

__mctl_images() {
    mctl list-images --no-legend --no-pager --full 2>/dev/null | while read -r name _; do printf '%s\n' "$name"; done
}

_mctl() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -s || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local verbs='list status show start enable disable terminate poweroff reboot stop kill login shell copy-to copy-from bind help'
    local opts_standalone='-h --help --version --no-pager --no-legend -q --quiet -a --all --value -l --full --no-ask-password --force --read-only --mkdir'
    local opts_arg='-p --property --kill-whom -s --signal -o --output --max-addresses --transport -n --lines --uid -E --setenv -H --host --fleet --fleet-etcd-ca --fleet-etcd-cert --fleet-etcd-key --fleet-etcd-user --fleet-etcd-password-file'
    local props='Name Id Timestamp TimestampMonotonic Service Unit Leader Class RootDirectory NetworkInterfaces State ImageName ImagePath PoolPath PoolUsage PoolLimit'

    case $prev in
        --kill-whom) COMPREPLY=($(compgen -W 'leader all' -- "$cur")); return ;;
        -s|--signal) COMPREPLY=($(compgen -W "$(mctl --signal=help 2>/dev/null | grep -v '^[0-9]*$' | sed 's/^/SIG/')" -- "$cur")); return ;;
        -o|--output) COMPREPLY=($(compgen -W 'short json json-pretty json-sse json-seq' -- "$cur")); return ;;
        --transport) COMPREPLY=($(compgen -W 'auto dbus varlink' -- "$cur")); return ;;
        -p|--property) COMPREPLY=($(compgen -W "$props" -- "$cur")); return ;;
        --max-addresses) COMPREPLY=($(compgen -W '0 1 2 all' -- "$cur")); return ;;
        -n|--lines|--uid|-E|--setenv|-H|--host|--fleet|--fleet-etcd-user) return ;;
        --fleet-etcd-ca|--fleet-etcd-cert|--fleet-etcd-key|--fleet-etcd-password-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts_standalone $opts_arg" -- "$cur"))
        return
    fi

    # The verb is the first word that is neither an option nor an option's argument; n counts the words after it.
    local i verb= n=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -p|--property|--kill-whom|-s|--signal|-o|--output|--max-addresses|--transport|-n|--lines|--uid|-E|--setenv|-H|--host|--fleet|--fleet-etcd-*) ((i++)) ;;
            -*) ;;
            *) if [[ -z $verb ]]; then verb=${words[i]}; else ((n++)); fi ;;
        esac
    done

    case $verb in
        '') COMPREPLY=($(compgen -W "$verbs" -- "$cur")) ;;
        status|show|terminate|poweroff|reboot|stop|kill|login|shell) COMPREPLY=($(compgen -W "$(__mctl_machines)" -- "$cur")) ;;
        # Images of the pool, which become machines of the same name.
        start|enable|disable) COMPREPLY=($(compgen -W "$(__mctl_images)" -- "$cur")) ;;
        # A machine, then paths (host paths complete; those inside the container are typed).
        copy-to|copy-from|bind)
            if ((n == 0)); then COMPREPLY=($(compgen -W "$(__mctl_machines)" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi ;;
    esac
}

complete -F _mctl mctl
