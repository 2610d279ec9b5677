#!/usr/bin/env bash
# A single-node Slurm on this machine, for the tests marked `slurm` and for trying hpcinv's
# SLURM modes without a cluster. Idempotent: `start` on a running cluster only waits for it.
#
#   bash slurm/local-cluster.sh start     # install (Debian packages) if needed, then start
#   bash slurm/local-cluster.sh status    # sinfo, or exit 1 if not running
#   bash slurm/local-cluster.sh stop      # cancel jobs, stop the daemons
#
# Needs root (or sudo). What this configuration relies on, measured on Debian 12 VMs:
# munged must run as user munge; NodeName must equal `hostname -s` with NodeAddr=127.0.0.1;
# without DefMemPerCPU a job that asks for no memory takes the whole node; batch_sched_delay=0
# starts batch jobs at once; SlurmdParameters=config_overrides lets the node advertise more CPUs
# than it has (workers are oversubscribed on purpose in tests); proctrack/linuxproc and
# task/none work without cgroups; there is no accounting (use `scontrol show job`); a requeued
# job waits AuthInfo's cred_expire (default 120 s) before it may start again: 10 s here, so the
# walltime/requeue test does not idle for two minutes.
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

start_munge() {
  if pgrep -x munged >/dev/null; then return; fi
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

wait_idle() {
  for _ in $(seq 1 60); do
    if sinfo -h -N -o "%T" 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then
      sinfo; return 0
    fi
    # a node left DOWN by an earlier stop comes back when asked
    scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
    sleep 0.5
  done
  log "Slurm did not come up; see ${LOG_DIR}/slurmctld.log and ${LOG_DIR}/slurmd.log"
  tail -n 5 "${LOG_DIR}/slurmctld.log" "${LOG_DIR}/slurmd.log" >&2 || true
  return 1
}

case "${1:-}" in
  start)
    install_packages
    changed=0
    write_config && changed=1
    if [ "$changed" = 1 ] && pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null; then
      # running daemons with an outdated configuration: restart them with the new one
      log "configuration changed; restarting the daemons"
      $sudo_cmd pkill -x slurmd || true
      $sudo_cmd pkill -x slurmctld || true
      for _ in $(seq 1 40); do
        pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || break
        sleep 0.25
      done
    fi
    if ! pgrep -x slurmctld >/dev/null || ! pgrep -x slurmd >/dev/null; then
      start_munge
      pgrep -x slurmctld >/dev/null || $sudo_cmd /usr/sbin/slurmctld
      pgrep -x slurmd >/dev/null || $sudo_cmd /usr/sbin/slurmd
    fi
    wait_idle
    ;;
  status)
    pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null && sinfo
    ;;
  stop)
    scancel --user="$(id -un)" >/dev/null 2>&1 || true
    for daemon in slurmd slurmctld munged; do
      $sudo_cmd pkill -x "$daemon" || true
    done
    # wait until they are gone, so that an immediate `start` starts fresh ones
    for _ in $(seq 1 40); do
      pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null \
        || break
      sleep 0.25
    done
    log "stopped"
    ;;
  *)
    echo "usage: $0 start|status|stop" >&2
    exit 2
    ;;
esac
