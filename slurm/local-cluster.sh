#!/usr/bin/env bash
# A single-node Slurm on this machine, for the tests marked `slurm` and for trying hpcinv's
# SLURM modes without a cluster. Idempotent: `start` on a running cluster only checks that
# the node answers (and repairs it: slurmd restarted, node RESUMEd); `stop` on a stopped one
# does nothing. Either exits 1 with one "error:" line when it cannot do its job.
#
#   bash slurm/local-cluster.sh start     # install (Debian packages) if needed, start, check
#   bash slurm/local-cluster.sh status    # sinfo, or exit 1 if not running
#   bash slurm/local-cluster.sh stop      # cancel all jobs, wait for them, stop the daemons
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

case "${1:-}" in
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
    start_cluster
    ;;
  status)
    alive slurmctld && alive slurmd && sinfo
    ;;
  stop)
    stop_cluster
    log "stopped"
    ;;
  *)
    echo "usage: $0 start|status|stop" >&2
    exit 2
    ;;
esac
