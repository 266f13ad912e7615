#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the tests and for trying the Slurm launcher.
#
#   scripts/slurm_local.sh start [DIR]   install slurm-wlm + munge if missing (root, Debian/Ubuntu),
#                                        write DIR/slurm.conf for this host, start munged, slurmctld
#                                        and slurmd, wait until the node is idle; prints the line to
#                                        source: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm_local.sh stop [DIR]    stop exactly the daemons `start` started (their pid files)
#   scripts/slurm_local.sh status [DIR]  sinfo of the cluster
#
# DIR defaults to ${SLURM_LOCAL_DIR:-/tmp/fine-tune-slurm}. Everything (config, keys, sockets, state,
# logs, pid files) lives there, nothing under /etc: two DIRs with different ports are two clusters.
# No cgroups (proctrack/linuxproc, task/none), so it runs in a container as root.
set -euo pipefail

cmd=${1:-start}
dir=$(realpath -m "${2:-${SLURM_LOCAL_DIR:-/tmp/fine-tune-slurm}}")
conf=$dir/slurm.conf
host=$(hostname -s)

die() { echo "slurm_local: $*" >&2; exit 1; }

install_packages() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed and installing needs root (apt-get)"
    command -v apt-get >/dev/null || die "slurm-wlm and munge are not installed and there is no apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

write_config() {
    mkdir -p "$dir"/{state,spool,log,munge}
    chmod 700 "$dir/munge"
    [ -f "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none;
                                      chmod 400 "$dir/munge/munge.key"; }
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))  # MB, with room for the OS
    cat > "$conf" <<EOF
# written by scripts/slurm_local.sh: a one-node cluster on $host
ClusterName=fine-tune-local
SlurmctldHost=$host
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# a one-node test cluster: schedule every few seconds (the defaults, 60 s and 30 s, suit big ones)
SchedulerParameters=sched_interval=2,bf_interval=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    install_packages
    [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null \
        && die "a cluster already runs from $dir: stop it first (scripts/slurm_local.sh stop $dir)"
    write_config
    munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" --force
    slurmctld -f "$conf"
    slurmd -f "$conf"
    export SLURM_CONF=$conf
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -o %T 2>/dev/null | head -1 || true)
        [ "$state" = idle ] && { echo "export SLURM_CONF=$conf"; return; }
        sleep 1
    done
    die "the node did not become idle in 60 s (state: '${state:-none}'); see $dir/log/"
}

stop() {
    # jobs first, so that no job step outlives the daemons
    if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
        export SLURM_CONF=$conf
        jobs=$(squeue -h -o %i 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            scancel $jobs 2>/dev/null || true
            for _ in $(seq 1 30); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 1; done
        fi
    fi
    # exactly the daemons start() started: their pid files, newest first
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
    # a job step (slurmstepd) that slurmd started and that outlived it: its working folder is ours
    for proc in /proc/[0-9]*; do
        [ "$(cat "$proc/comm" 2>/dev/null)" = slurmstepd ] || continue
        case $(readlink "$proc/cwd" 2>/dev/null) in "$dir"|"$dir"/*) kill -9 "${proc#/proc/}" 2>/dev/null || true ;; esac
    done
}

case $cmd in
    start) start ;;
    stop) stop ;;
    status) SLURM_CONF=$conf sinfo ;;
    *) die "usage: $0 start|stop|status [DIR]" ;;
esac
