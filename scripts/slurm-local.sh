#!/usr/bin/env bash
# Runs a sharded batch and a sharded sweep on a one-node Slurm cluster on
# this machine (Debian's slurm-wlm and munge; slurmctld and slurmd on
# localhost), merges the parts and checks each merge equals the unsharded
# command's output byte for byte.
#
#   scripts/slurm-local.sh [SEEDS] [SHARDS] [SWEEP_SEEDS]
#       (default 2000 seeds for the batch, 4 shards, 100 seeds a sweep cell)
#
# Needs root (it starts the daemons) and the release binary
# (cargo build --release -p cli). Installs slurm-wlm and munge with apt-get
# when they are missing. Everything it writes is under a temporary folder,
# printed at the end; the daemons are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-2000}
shards=${2:-4}
sweep_seeds=${3:-100}
aviary=$PWD/target/release/aviary
[ -x "$aviary" ] || { echo "build first: cargo build --release -p cli" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge
fi
work=$(mktemp -d)
host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$work"/{spool/ctld,spool/d,parts,logs,munge}
# munge: a key and a socket of our own.
dd if=/dev/urandom bs=1 count=1024 of="$work/munge/munge.key" status=none
chmod 400 "$work/munge/munge.key"
munged --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" --force
cat > "$work/slurm.conf" <<CONF
ClusterName=aviary
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$work/spool/ctld
SlurmdSpoolDir=$work/spool/d
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/logs/slurmctld.log
SlurmdLogFile=$work/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
cleanup() {
  kill "$(cat "$work/slurmd.pid" 2>/dev/null)" "$(cat "$work/slurmctld.pid" 2>/dev/null)" 2>/dev/null || true
  kill "$(cat "$work/munge/munged.pid" 2>/dev/null)" 2>/dev/null || true
}
trap cleanup EXIT
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
  sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mixed' && break
  sleep 1
done
sinfo
cat > "$work/aviary-array.sh" <<JOB
#!/bin/sh
#SBATCH --job-name=aviary
#SBATCH --array=0-$((shards - 1))
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/logs/aviary-%a.log
exec "$aviary" batch --seeds $seeds --format json --quiet --threads 1 --shard auto \
  --output "$work/parts/part-\$SLURM_ARRAY_TASK_ID.jsonl"
JOB
# The sweep: the tuning suite's 10 scenarios x 3 cells (and the base
# policy's runs for the winner's comparison).
sweep=(sweep "$PWD/examples/tuning/suite.toml" --vary 'analysis.checks[0].max_increase=0.005,0.01,0.02'
  --seeds "$sweep_seeds" --format json --quiet)
cat > "$work/aviary-sweep.sh" <<JOB
#!/bin/sh
#SBATCH --job-name=aviary-sweep
#SBATCH --array=0-$((shards - 1))
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/logs/aviary-sweep-%a.log
exec "$aviary" ${sweep[*]@Q} --threads 1 --shard auto \
  --output "$work/parts/sweep-\$SLURM_ARRAY_TASK_ID.jsonl"
JOB
start=$(date +%s)
sbatch --wait "$work/aviary-array.sh"
end=$(date +%s)
sbatch --wait "$work/aviary-sweep.sh"
end_sweep=$(date +%s)
sacct >/dev/null 2>&1 || true
ls -l "$work/parts"
"$aviary" merge "$work"/parts/part-*.jsonl --output "$work/merged.json"
"$aviary" batch --seeds "$seeds" --format json --quiet --output "$work/whole.json" 2>/dev/null
"$aviary" merge "$work"/parts/sweep-*.jsonl --output "$work/merged-sweep.json"
"$aviary" "${sweep[@]}" --output "$work/whole-sweep.json" 2>/dev/null
status=0
if cmp "$work/merged.json" "$work/whole.json"; then
  echo "slurm: $shards shards of $seeds seeds ran in $((end - start)) s; the merge equals the unsharded batch byte for byte ($(wc -c < "$work/merged.json") bytes)"
else
  echo "slurm: the batch's merge differs from the unsharded batch" >&2
  status=1
fi
if cmp "$work/merged-sweep.json" "$work/whole-sweep.json"; then
  echo "slurm: a sweep of 3 cells x 10 scenarios x $sweep_seeds seeds in $shards shards ran in $((end_sweep - end)) s; the merge equals the unsharded sweep byte for byte ($(wc -c < "$work/merged-sweep.json") bytes)"
else
  echo "slurm: the sweep's merge differs from the unsharded sweep" >&2
  status=1
fi
echo "files: $work"
exit $status
