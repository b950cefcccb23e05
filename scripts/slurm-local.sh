#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/slurm.rs (as root, without systemd):
#   scripts/slurm-local.sh start   installs slurm-wlm and munge if missing, starts munged,
#                                  slurmctld and slurmd, and waits (at most 60 s) for the node;
#   scripts/slurm-local.sh stop    stops the daemons it started (by the PIDs it recorded).
# cgroups are not used (proctrack/linuxproc, task/none) and accounting is off: follow jobs with
# squeue and their output files. Nothing reaches beyond this machine.
set -euo pipefail

state=/run/classgen-slurm
cmd=${1:-}

start() {
  if [[ $(id -u) != 0 ]]; then
    echo "slurm-local: needs root (it writes /etc/slurm and starts daemons)" >&2
    exit 1
  fi
  if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null) || {
      echo "slurm-local: slurm-wlm and munge could not be installed" >&2
      exit 1
    }
  fi
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "slurm-local: a Slurm cluster is already up"
    return 0
  fi
  mkdir -p "$state" /etc/munge /var/log/munge /var/lib/munge /run/munge \
           /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
  [[ -f /etc/munge/munge.key ]] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
  chmod 400 /etc/munge/munge.key
  # A munged already running is left alone (and not stopped by `stop`).
  if ! pidof munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
    pidof munged >"$state/munged.pid"
  fi
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(free -m | awk '/Mem:/{print $2}') - 1024 ))
  cat >/etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  /usr/sbin/slurmctld
  /usr/sbin/slurmd
  # The node comes up within seconds; poll with a deadline.
  local deadline=$((SECONDS + 60))
  until sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; do
    if (( SECONDS > deadline )); then
      echo "slurm-local: the node did not come up in 60 s; see /var/log/slurm/" >&2
      exit 1
    fi
    sleep 0.5
  done
  sinfo
}

stop() {
  local name pid
  for name in slurmd slurmctld munged; do
    [[ -f $state/$name.pid ]] || continue
    pid=$(cat "$state/$name.pid")
    if [[ -n $pid ]] && kill "$pid" 2>/dev/null; then
      echo "slurm-local: stopped $name ($pid)"
    fi
    rm -f "$state/$name.pid"
  done
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/slurm-local.sh start|stop" >&2; exit 2 ;;
esac
