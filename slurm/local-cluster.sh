#!/usr/bin/env bash
# A single-node Slurm on this machine, for the tests marked `slurm` and for trying hpcinv's
# SLURM modes without a cluster. Idempotent: `start` on a running cluster only checks that
# the node answers (and repairs it: slurmd restarted, node RESUMEd); `stop` on a stopped one
# does nothing. Either exits 1 with one "error:" line when it cannot do its job.
#
#   bash slurm/local-cluster.sh start     # install (Debian packages) if needed, start, check
#   bash slurm/local-cluster.sh start --nodes 3   # three compute hosts (network namespaces)
#   bash slurm/local-cluster.sh status    # sinfo (and the hosts), or exit 1 if not running
#   bash slurm/local-cluster.sh stop      # cancel all jobs, wait for them, stop the daemons
#                                         # (and remove every namespace, veth and the bridge)
#
# --nodes N (N >= 2): N Slurm compute hosts on this machine. Host I is the network namespace
# hpcinv-nI with its own UTS namespace (hostname hpcinv-nI, its slurmd's and its jobs'), a
# veth (host side hpcinv-vI, eth0 inside) on the Linux bridge hpcinv-br0, and the address
# 198.18.0.(10+I)/24; the host side of the bridge is 198.18.0.1/24. 198.18.0.0/15 is reserved
# for network tests (RFC 2544): no default route and no NAT in the namespaces, so the hosts
# reach the host and each other, nothing else. One slurmd per host (`slurmd -N hpcinv-nI`;
# spool, pid and log files per node through %n); slurmctld and munged run on the host (the
# nodes reach slurmctld at 198.18.0.1; munge's socket is a file, shared). The host itself is
# no compute node then. /etc/netns/hpcinv-nI/hosts names every host inside the namespaces.
# A second network stands for a cluster's high-speed one: eth1 inside host I at
# 198.19.0.(10+I)/24, on the bridge hpcinv-br1 (host side hpcinv-fI; the machine: 198.19.0.1);
# hostnames resolve to the first network, so only --slurm-interface eth1 puts Dask on it.
# A Dask scheduler on the host must bind the bridge address: --slurm-scheduler-host 198.18.0.1.
# `start` without --nodes goes back to today's single node (and removes the namespaces).
#
# Needs root (or sudo). What this configuration relies on, measured on Debian 12 VMs:
# munged must run as user munge; NodeName must equal `hostname -s` with NodeAddr=127.0.0.1;
# without DefMemPerCPU a job that asks for no memory takes the whole node; batch_sched_delay=0
# starts batch jobs at once; SlurmdParameters=config_overrides lets the node advertise more CPUs
# than it has (workers are oversubscribed on purpose in tests); proctrack/linuxproc and
# task/none work without cgroups; there is no accounting (use `scontrol show job`); a requeued
# job waits AuthInfo's cred_expire (default 120 s) before it may start again: 10 s here, so the
# walltime/requeue test does not idle for two minutes. slurmd does not exit while a job step
# still has to report to slurmctld, so `stop` lets the cancelled jobs leave the queue before
# it stops slurmctld.
set -euo pipefail

CPUS=${HPCINV_SLURM_CPUS:-8}              # advertised; more than the cores is fine for tests
MEM_MB=${HPCINV_SLURM_MEMORY_MB:-$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))}
NODE=$(hostname -s)
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

log() { echo "[local-slurm] $*" >&2; }

NODES=1                                   # start --nodes N
NS_PREFIX=hpcinv-n                        # namespace = node name = hostname: hpcinv-n1, ...
BRIDGE=hpcinv-br0
VETH_PREFIX=hpcinv-v                      # the host side of host I's veth: hpcinv-vI
NET_PREFIX=198.18.0                       # reserved for tests (RFC 2544); never routed out
HOST_ADDR=${NET_PREFIX}.1
# a second network, as the high-speed one of a real cluster (InfiniBand's ib0): eth1 inside
# each host, on its own bridge; hostnames resolve to the first network's addresses, as they do
FAST_BRIDGE=hpcinv-br1
FAST_VETH_PREFIX=hpcinv-f                 # the host side of host I's eth1: hpcinv-fI
FAST_PREFIX=198.19.0                      # the other half of 198.18.0.0/15
FAST_HOST_ADDR=${FAST_PREFIX}.1
node_name() { echo "${NS_PREFIX}$1"; }
node_addr() { echo "${NET_PREFIX}.$(( 10 + $1 ))"; }
node_fast_addr() { echo "${FAST_PREFIX}.$(( 10 + $1 ))"; }

install_packages() {
  local missing=()
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# Prints the configuration; `start` writes it when the file differs (and restarts daemons).
render_config() {
  if [ "$NODES" -gt 1 ]; then render_multi_config; return; fi
  cat <<EOF
# written by hpcinv's slurm/local-cluster.sh: one node, no accounting, no cgroups
ClusterName=hpcinv-local
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=10
MinJobAge=300
DefMemPerCPU=$(( MEM_MB / CPUS ))
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

# --nodes N: slurmctld on the host at the bridge's address, N nodes in namespaces, slurmd's
# spool, pid and log files per node (%n); each node advertises 1/N of the memory.
render_multi_config() {
  local i node_mem=$(( MEM_MB / NODES ))
  cat <<EOF
# written by hpcinv's slurm/local-cluster.sh --nodes ${NODES}: hosts in network namespaces
ClusterName=hpcinv-local
SlurmctldHost=${NODE}(${HOST_ADDR})
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=10
MinJobAge=300
DefMemPerCPU=$(( node_mem / CPUS ))
EOF
  for i in $(seq 1 "$NODES"); do
    echo "NodeName=$(node_name "$i") NodeAddr=$(node_addr "$i") NodeHostname=$(node_name "$i")" \
      "CPUs=${CPUS} RealMemory=${node_mem} State=UNKNOWN"
  done
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
}

# Writes slurm.conf; returns 0 when it changed (or was missing), 1 when already current.
write_config() {
  $sudo_cmd mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd /run/munge
  local wanted
  wanted=$(render_config)
  if [ -f "$CONF_DIR/slurm.conf" ] && [ "$(cat "$CONF_DIR/slurm.conf")" = "$wanted" ]; then
    return 1
  fi
  printf '%s\n' "$wanted" | $sudo_cmd tee "$CONF_DIR/slurm.conf" >/dev/null
}

die() {
  log "error: $*"
  exit 1
}

show_logs() {
  if [ "$NODES" -gt 1 ]; then
    tail -n 5 "${LOG_DIR}/slurmctld.log" "${LOG_DIR}/slurmd-${NS_PREFIX}"*.log >&2 2>/dev/null || true
    return
  fi
  tail -n 5 "${LOG_DIR}/slurmctld.log" "${LOG_DIR}/slurmd.log" >&2 2>/dev/null || true
}

# PIDs of the live processes named exactly $1. Zombies are left out: PID 1 on these VMs reaps
# orphans late (a slurmd that had exited stayed <defunct> for over 17 s, measured) and
# `pgrep -x` counts them, so `start` took an exited slurmd for a running one.
pids_of() {
  { ps -C "$1" -o pid=,stat= 2>/dev/null || true; } | awk '$2 !~ /^Z/ {print $1}'
}

alive() { [ -n "$(pids_of "$1")" ]; }

# wait_until SECONDS COMMAND...: polls COMMAND every 0.25 s; 1 if it never succeeded
wait_until() {
  local tries=$(( $1 * 4 )); shift
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0
    sleep 0.25
  done
  "$@"
}

gone() { ! alive "$1"; }

# terminate NAME GRACE: SIGTERM, up to GRACE s to exit, then SIGKILL; 1 if still there after
terminate() {
  local name=$1 grace=$2 pids
  pids=$(pids_of "$name")
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086  # one PID a word
  $sudo_cmd kill -TERM $pids 2>/dev/null || true
  wait_until "$grace" gone "$name" && return 0
  log "$name still running ${grace} s after SIGTERM; sending SIGKILL"
  pids=$(pids_of "$name")
  # shellcheck disable=SC2086
  [ -z "$pids" ] || $sudo_cmd kill -KILL $pids 2>/dev/null || true
  wait_until 5 gone "$name"
}

# The given PIDs and all their descendants (the job's processes under a slurmstepd).
with_descendants() {
  ps -eo pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
      do { more = 0
           for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; more = 1 }
      } while (more)
      for (p in keep) print p
    }'
}

ctld_answers() { scontrol ping >/dev/null 2>&1; }
slurmd_answers() { scontrol show slurmd >/dev/null 2>&1; }
munge_answers() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
queue_empty() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }

# A stop that only signalled the daemons left a slurmd that did not exit for 70 s (measured):
# with slurmctld already gone, a cancelled job step retried its completion message for 60 s
# and slurmd waited for it, so an immediate `start` saw "a slurmd" and started none. Hence:
# cancel the jobs and let them leave the queue while slurmctld still runs, end leftover steps,
# then stop the daemons one by one, each with SIGKILL as the last resort.
stop_cluster() {
  local jobs leftover step_wait=10
  if alive slurmctld && ctld_answers; then
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      log "cancelling jobs: $(echo $jobs)"
      # shellcheck disable=SC2086
      $sudo_cmd scancel $jobs >/dev/null 2>&1 || true
      # a job's processes get SIGKILL KillWait (10 s) after SIGTERM; then it must report back.
      # Without a slurmd nothing can report, so there is nothing to wait for.
      if alive slurmd && ! wait_until 30 queue_empty; then
        log "jobs still in the queue 30 s after scancel: $(squeue -h -o '%i:%T' | tr '\n' ' ')"
        step_wait=0
      fi
    fi
  fi
  # steps end within a second once their job left the queue (measured); one that could not
  # report (slurmctld gone, or hung) would retry for minutes, and its job is over anyway
  if ! wait_until "$step_wait" gone slurmstepd; then
    log "ending leftover job steps (slurmstepd and their processes)"
    # shellcheck disable=SC2046
    $sudo_cmd kill -KILL $(with_descendants $(pids_of slurmstepd)) 2>/dev/null || true
    wait_until 5 gone slurmstepd || true
  fi
  terminate slurmd 10 || true
  terminate slurmctld 15 || true
  terminate slurmscriptd 5 || true
  terminate munged 5 || true
  leftover=""
  for daemon in slurmstepd slurmd slurmctld slurmscriptd munged; do
    alive "$daemon" && leftover+=" $daemon($(echo $(pids_of "$daemon")))"
  done
  [ -z "$leftover" ] || die "still running after SIGKILL:${leftover}"
}

start_munge() {
  if alive munged; then return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    $sudo_cmd mkdir -p /etc/munge
    $sudo_cmd dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  $sudo_cmd chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  $sudo_cmd chmod 0400 /etc/munge/munge.key
  $sudo_cmd chmod 0755 /run/munge
  # munged refuses to run as root
  $sudo_cmd runuser -u munge -- /usr/sbin/munged
}

# ensure NAME ANSWERS START...: keeps a NAME that answers; stops one that does not answer
# within 5 s (still exiting from an earlier stop, or hung); starts a fresh one if none runs.
# A fresh slurmd answers `scontrol show slurmd` within 0.05 s; an exiting one refuses the
# connection (measured). sinfo alone cannot tell: it showed "idle" for a killed slurmd, since
# slurmctld notices a silent node only at its next ping (SlurmdTimeout/3 = 100 s).
ensure() {
  local name=$1 answers=$2
  shift 2
  if alive "$name" && ! wait_until 5 "$answers"; then
    log "$name is running but does not answer (still exiting?); stopping it"
    terminate "$name" 10 || die "$name ($(echo $(pids_of "$name"))) does not exit, even on SIGKILL"
  fi
  if ! alive "$name"; then
    log "starting $name"
    "$@"
  fi
}

node_state() { { sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true; } | head -n 1; }

# Up only when slurmd answers and the node is idle/mixed/allocated; a trailing '*' (not
# responding) or DOWN/DRAIN/UNKNOWN is not up. A node left DOWN or drained is RESUMEd and a
# slurmd that died is started again (twice at most), for 60 s.
wait_node_up() {
  local state restarts=0
  for _ in $(seq 1 120); do
    state=$(node_state)
    if alive slurmd && slurmd_answers; then
      case "$state" in
        idle|mixed|allocated) sinfo; return 0 ;;
        down*|drain*|fail*|unknown*)
          $sudo_cmd scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
      esac
    elif ! alive slurmd && [ "$restarts" -lt 2 ]; then
      restarts=$(( restarts + 1 ))
      log "slurmd is not running (node ${state:-unknown}); starting it"
      $sudo_cmd /usr/sbin/slurmd || true
    fi
    sleep 0.5
  done
  show_logs
  alive slurmd || die "slurmd does not stay up; see ${LOG_DIR}/slurmd.log"
  slurmd_answers || die "slurmd runs but does not answer after 60 s; see ${LOG_DIR}/slurmd.log"
  die "node $NODE is ${state:-unknown to Slurm} after 60 s; see ${LOG_DIR}/slurmctld.log"
}

# ---- --nodes N: the hosts (network + UTS namespaces on a bridge) ----

# our namespaces (hpcinv-n<digits>), whatever N they were made for
our_namespaces() {
  { ip netns list 2>/dev/null || true; } | awk '{print $1}' | grep -E "^${NS_PREFIX}[0-9]+$" | sort -V || true
}
our_veths() {
  { ip -o link show 2>/dev/null || true; } | awk -F': ' '{print $2}' | cut -d@ -f1 \
    | grep -E "^(${VETH_PREFIX}|${FAST_VETH_PREFIX})[0-9]+$" || true
}
ns_exists() { our_namespaces | grep -qx "$1"; }

# in_node I CMD...: CMD in host I: its network namespace, its own UTS namespace (hostname
# hpcinv-nI) and mount namespace (/etc/netns/hpcinv-nI/hosts over /etc/hosts). Not `ip netns
# exec`: it mounts a fresh /sys, without /sys/fs/cgroup, and slurmd then refuses to start
# ("No filesystem mounted on /sys/fs/cgroup", measured), even with proctrack/linuxproc.
in_node() {
  local name
  name=$(node_name "$1"); shift
  # shellcheck disable=SC2016  # expanded by the inner sh
  $sudo_cmd nsenter --net="/run/netns/$name" unshare --mount --uts sh -c \
    'mount --bind "/etc/netns/$0/hosts" /etc/hosts && hostname "$0" && exec "$@"' "$name" "$@"
}

# live slurmd PIDs in host I's namespace
node_slurmd_pids() {
  local p
  for p in $(ip netns pids "$(node_name "$1")" 2>/dev/null || true); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = slurmd ] || continue
    grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null || echo "$p"
  done
}
node_slurmd_alive() { [ -n "$(node_slurmd_pids "$1")" ]; }
node_slurmd_answers() { in_node "$1" scontrol show slurmd >/dev/null 2>&1; }
# shellcheck disable=SC2016
reaches_ctld() {
  $sudo_cmd ip netns exec "$(node_name "$1")" timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/6817"' \
    "$HOST_ADDR" 2>/dev/null
}
start_node_slurmd() { in_node "$1" /usr/sbin/slurmd -N "$(node_name "$1")"; }

write_hosts_file() {
  local i dir=/etc/netns/$(node_name "$1")
  $sudo_cmd mkdir -p "$dir"
  {
    echo "127.0.0.1 localhost"
    echo "${HOST_ADDR} ${NODE}"
    for i in $(seq 1 "$NODES"); do echo "$(node_addr "$i") $(node_name "$i")"; done
  } | $sudo_cmd tee "$dir/hosts" >/dev/null
}

# ensure_bridge NAME ADDR: the bridge, up, with the machine's address on it
ensure_bridge() {
  if ! ip link show "$1" >/dev/null 2>&1; then
    log "creating bridge $1 ($2/24)"
    $sudo_cmd ip link add "$1" type bridge
  fi
  ip -4 -o addr show dev "$1" | grep -q " $2/24 " || $sudo_cmd ip addr add "$2/24" dev "$1"
  $sudo_cmd ip link set "$1" up
}

# ensure_link NS IFACE VETH BRIDGE ADDR: the namespace's IFACE, a veth whose other half VETH
# is on BRIDGE, with ADDR/24, up
ensure_link() {
  if ! $sudo_cmd ip netns exec "$1" ip link show "$2" >/dev/null 2>&1; then
    $sudo_cmd ip link del "$3" 2>/dev/null || true  # a host half without its peer
    $sudo_cmd ip link add "$3" type veth peer name "$2" netns "$1"
  fi
  $sudo_cmd ip link set "$3" master "$4" up
  $sudo_cmd ip netns exec "$1" ip addr replace "$5/24" dev "$2"
  $sudo_cmd ip netns exec "$1" ip link set "$2" up
}

# Makes (or repairs) the bridges and hosts 1..N; removes hosts above N left by a bigger N.
ensure_network() {
  local i ns addr
  for ns in $(our_namespaces); do
    [ "${ns#"$NS_PREFIX"}" -le "$NODES" ] || remove_namespace "$ns"
  done
  ensure_bridge "$BRIDGE" "$HOST_ADDR"
  ensure_bridge "$FAST_BRIDGE" "$FAST_HOST_ADDR"
  for i in $(seq 1 "$NODES"); do
    ns=$(node_name "$i") addr=$(node_addr "$i")
    if ! ns_exists "$ns"; then
      log "creating host $ns ($addr)"
      $sudo_cmd ip netns add "$ns"
    fi
    $sudo_cmd ip netns exec "$ns" ip link set lo up
    ensure_link "$ns" eth0 "${VETH_PREFIX}$i" "$BRIDGE" "$addr"
    ensure_link "$ns" eth1 "${FAST_VETH_PREFIX}$i" "$FAST_BRIDGE" "$(node_fast_addr "$i")"
    write_hosts_file "$i"
    $sudo_cmd mkdir -p "/var/spool/slurmd/$ns"
  done
}

# Ends whatever still runs in the namespace (slurmd is stopped before), then deletes it.
remove_namespace() {
  local ns=$1 pids
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    log "ending processes left in $ns: $(echo $pids)"
    # shellcheck disable=SC2086
    $sudo_cmd kill -KILL $pids 2>/dev/null || true
  fi
  $sudo_cmd ip netns del "$ns" 2>/dev/null || true
  $sudo_cmd rm -rf "/etc/netns/$ns" "/run/slurmd-$ns.pid"
}

# Removes every namespace, veth and the bridge this script made (any N); quiet when none.
teardown_network() {
  local ns veth bridge removed=""
  for ns in $(our_namespaces); do remove_namespace "$ns"; removed+=" $ns"; done
  for veth in $(our_veths); do $sudo_cmd ip link del "$veth" 2>/dev/null || true; removed+=" $veth"; done
  for bridge in "$BRIDGE" "$FAST_BRIDGE"; do
    if ip link show "$bridge" >/dev/null 2>&1; then
      $sudo_cmd ip link del "$bridge"
      removed+=" $bridge"
    fi
  done
  [ -z "$removed" ] || log "removed the hosts:$removed"
  # /etc/netns: made by ensure_network; removed when our hosts' files were its only content
  [ -z "$removed" ] || [ ! -d /etc/netns ] || $sudo_cmd rmdir --ignore-fail-on-non-empty /etc/netns
  [ -z "$(our_namespaces)$(our_veths)" ] || die "could not remove: $(echo $(our_namespaces) $(our_veths))"
}

node_state_of() { { sinfo -h -N -n "$1" -o %T 2>/dev/null || true; } | head -n 1; }

# Like wait_node_up, for every host: its slurmd answers and the node is idle/mixed/allocated.
wait_nodes_up() {
  local i name state up restarts=()
  for i in $(seq 1 "$NODES"); do restarts[i]=0; done
  for _ in $(seq 1 120); do
    up=0
    for i in $(seq 1 "$NODES"); do
      name=$(node_name "$i")
      state=$(node_state_of "$name")
      if node_slurmd_alive "$i" && node_slurmd_answers "$i"; then
        case "$state" in
          idle|mixed|allocated) up=$(( up + 1 )) ;;
          down*|drain*|fail*|unknown*)
            $sudo_cmd scontrol update NodeName="$name" State=RESUME >/dev/null 2>&1 || true ;;
        esac
      elif ! node_slurmd_alive "$i" && [ "${restarts[i]}" -lt 2 ]; then
        restarts[i]=$(( restarts[i] + 1 ))
        log "slurmd of $name is not running (node ${state:-unknown}); starting it"
        start_node_slurmd "$i" || true
      fi
    done
    if [ "$up" -eq "$NODES" ]; then sinfo; show_hosts; return 0; fi
    sleep 0.5
  done
  show_logs
  die "not every host is up after 60 s: $(sinfo -h -N -o '%N:%T' | tr '\n' ' ')see ${LOG_DIR}/slurmd-${NS_PREFIX}*.log"
}

# One line per host: name, address, hostname inside, slurmd PID, Slurm state.
show_hosts() {
  local ns pid hn addr fast
  [ -n "$(our_namespaces)" ] || return 0
  printf '%-12s %-14s %-14s %-12s %-8s %s\n' HOST ADDRESS FAST HOSTNAME SLURMD STATE
  for ns in $(our_namespaces); do
    addr=$($sudo_cmd ip netns exec "$ns" ip -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}')
    fast=$($sudo_cmd ip netns exec "$ns" ip -4 -o addr show dev eth1 2>/dev/null | awk '{print $4}')
    pid=$(node_slurmd_pids "${ns#"$NS_PREFIX"}" | head -n 1)
    hn=-
    [ -z "$pid" ] || hn=$($sudo_cmd nsenter -t "$pid" -u hostname 2>/dev/null || echo '?')
    printf '%-12s %-14s %-14s %-12s %-8s %s\n' "$ns" "${addr:--}" "${fast:--}" "$hn" "${pid:--}" \
      "$(node_state_of "$ns")"
  done
}

start_multi_cluster() {
  local i
  ensure munged munge_answers start_munge
  wait_until 5 munge_answers || die "munged does not answer (munge -n | unmunge); see /var/log/munge"
  ensure slurmctld ctld_answers $sudo_cmd /usr/sbin/slurmctld
  if ! wait_until 30 ctld_answers; then
    show_logs
    die "slurmctld does not answer (scontrol ping); see ${LOG_DIR}/slurmctld.log"
  fi
  # each host reaches slurmctld over the bridge (a down veth shows here, not as a timeout)
  for i in $(seq 1 "$NODES"); do
    wait_until 5 reaches_ctld "$i" \
      || die "host $(node_name "$i") does not reach slurmctld at ${HOST_ADDR}:6817 over $BRIDGE"
  done
  for i in $(seq 1 "$NODES"); do
    if node_slurmd_alive "$i" && ! wait_until 5 node_slurmd_answers "$i"; then
      log "slurmd of $(node_name "$i") is running but does not answer; stopping it"
      # shellcheck disable=SC2046
      $sudo_cmd kill -KILL $(node_slurmd_pids "$i") 2>/dev/null || true
      wait_until 5 eval '! node_slurmd_alive '"$i" || die "slurmd of $(node_name "$i") does not exit"
    fi
    if ! node_slurmd_alive "$i"; then
      log "starting slurmd of $(node_name "$i")"
      start_node_slurmd "$i" || log "slurmd of $(node_name "$i") exited with $?"
    fi
  done
  wait_nodes_up
}

start_cluster() {
  ensure munged munge_answers start_munge
  wait_until 5 munge_answers || die "munged does not answer (munge -n | unmunge); see /var/log/munge"
  ensure slurmctld ctld_answers $sudo_cmd /usr/sbin/slurmctld
  if ! wait_until 30 ctld_answers; then
    show_logs
    die "slurmctld does not answer (scontrol ping); see ${LOG_DIR}/slurmctld.log"
  fi
  ensure slurmd slurmd_answers $sudo_cmd /usr/sbin/slurmd
  wait_node_up
}

command=${1:-}
[ $# -eq 0 ] || shift
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:-}; shift 2 || shift ;;
    --nodes=*) NODES=${1#--nodes=}; shift ;;
    *) echo "usage: $0 start [--nodes N]|status|stop" >&2; exit 2 ;;
  esac
done
case "$NODES" in
  ''|*[!0-9]*) echo "usage: $0 start [--nodes N]|status|stop (N: 1 to 200)" >&2; exit 2 ;;
esac
[ "$NODES" -ge 1 ] && [ "$NODES" -le 200 ] || { echo "$0: --nodes 1 to 200" >&2; exit 2; }

case "$command" in
  start)
    install_packages
    changed=0
    write_config && changed=1
    if [ "$changed" = 1 ] && { alive slurmctld || alive slurmd; }; then
      # running daemons with an outdated configuration: restart them with the new one
      log "configuration changed; restarting the daemons"
      terminate slurmd 10 || die "slurmd does not exit, even on SIGKILL"
      terminate slurmctld 15 || die "slurmctld does not exit, even on SIGKILL"
    fi
    if [ "$NODES" -gt 1 ]; then
      ensure_network
      start_multi_cluster
    else
      teardown_network  # hosts of an earlier --nodes N (their slurmds were stopped above)
      start_cluster
    fi
    ;;
  status)
    alive slurmctld && alive slurmd && sinfo && show_hosts
    ;;
  stop)
    stop_cluster
    teardown_network
    log "stopped"
    ;;
  *)
    echo "usage: $0 start [--nodes N]|status|stop" >&2
    exit 2
    ;;
esac
