#!/usr/bin/env bash
# A cluster of N "hosts" on this machine for multi-host tests: one network namespace per host,
# joined through veth pairs to a bridge in a switch namespace, MPI between them over TCP.
#
#   scripts/netns-cluster.sh up N [--slots S]       hosts h1..hN at 10.77.0.1..N (N ≤ 8)
#   scripts/netns-cluster.sh down                   remove everything `up` made (idempotent)
#   scripts/netns-cluster.sh run N [--slots S] -- CMD…   up, run CMD, down on any exit
#   scripts/netns-cluster.sh exec HOST CMD…         run CMD on HOST (h1…), hostname HOST
#   scripts/netns-cluster.sh mpirun [mpirun options] CMD…   mpirun started on h1 with the
#                                                   hostfile, the rsh agent and TCP on the subnet
#   scripts/netns-cluster.sh link HOST up|down      take HOST's cable out / put it back
#   scripts/netns-cluster.sh kill HOST [SIGNAL]     kill every process of HOST (default KILL)
#   scripts/netns-cluster.sh shape RATE [DELAY]     shape every link (e.g. 10gbit 50us; the
#                                                   delay needs netem, else tbf shapes the rate)
#   scripts/netns-cluster.sh unshape                remove the shaping
#   scripts/netns-cluster.sh status                 namespaces, addresses, processes
#   scripts/netns-cluster.sh hostfile               path of the generated hostfile
#
# Everything it makes is named after $LPFT_NETNS_PREFIX (default "lpftns"): the namespaces
# PREFIX-sw (bridge br0, one port hK per host) and PREFIX-hK (interface eth0), the files
# /etc/netns/PREFIX-hK/hosts (host names inside the namespaces, bound over /etc/hosts by
# `ip netns exec`), and the state folder /tmp/PREFIX-cluster (hostfile). The root namespace
# gets no interface, address or route, and `down` removes nothing else. The subnet
# 10.77.0.0/24 exists only inside these namespaces. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN);
# installs iproute2 and iputils-ping when missing. The file system is shared by all hosts, so paths
# (binary, assets, outputs) are the same everywhere, as on a cluster with a shared file system.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${LPFT_NETNS_PREFIX:-lpftns}
[[ "$prefix" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || { echo "netns-cluster: LPFT_NETNS_PREFIX must be lower-case letters, digits and '-' (got '$prefix')" >&2; exit 2; }
subnet=10.77.0
switch="$prefix-sw"
state="/tmp/$prefix-cluster"
hostfile="$state/hostfile"
agent="$here/scripts/netns-rsh"
# Failure detection (see up and run_mpirun): TCP retransmissions before a connection is
# dropped, and mpirun's keepalive on idle daemon connections (idle s, interval s, probes).
tcp_retries=5
keepalive=(10 1 3)

die() { echo "netns-cluster: $*" >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }

need_tools() {
  local missing=()
  command -v ip >/dev/null && command -v tc >/dev/null || missing+=(iproute2)
  command -v ping >/dev/null || missing+=(iputils-ping)
  if (( ${#missing[@]} )); then
    echo "netns-cluster: installing ${missing[*]}" >&2
    local sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v unshare >/dev/null || die "unshare (util-linux) is missing"
  # A namespace we cannot create means no privileges: say so plainly (tests fail on it).
  if ! ip netns add "$prefix-probe" 2>/tmp/"$prefix"-probe.err; then
    local why; why=$(cat /tmp/"$prefix"-probe.err); rm -f /tmp/"$prefix"-probe.err
    die "cannot create network namespaces ($why); run as root with CAP_SYS_ADMIN and CAP_NET_ADMIN"
  fi
  ip netns delete "$prefix-probe"; rm -f /tmp/"$prefix"-probe.err
}

# Host names of the running cluster, h1 … hN (from the namespaces that exist).
hosts() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$prefix-h[0-9]+$" | sed "s/^$prefix-//" | sort -V || true
}

namespace_of() {
  local host=$1
  [[ "$host" =~ ^h[0-9]+$ ]] || die "unknown host '$host' (hosts are h1, h2, …)"
  ip netns list | awk '{print $1}' | grep -qx "$prefix-$host" || die "host $host is not up (scripts/netns-cluster.sh up N)"
  echo "$prefix-$host"
}

# Kills every process inside namespace $1 and waits until none is left (at most 5 s).
kill_namespace() {
  local ns=$1 signal=${2:-KILL} pids
  for _ in $(seq 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z "$pids" ]] && return 0
    kill -s "$signal" $pids 2>/dev/null || true
    [[ "$signal" == KILL ]] || return 0
    sleep 0.1
  done
  echo "netns-cluster: processes still alive in $ns: $(ip netns pids "$ns" | tr '\n' ' ')" >&2
}

down() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$prefix-(h[0-9]+|sw)$" || true); do
    kill_namespace "$ns"
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  rm -rf "$state"
  rmdir /etc/netns 2>/dev/null || true  # only when empty: it may hold other namespaces' files
}

up() {
  local n=$1 slots=$2 i
  [[ "$n" =~ ^[1-8]$ ]] || die "up: N must be 1…8 (got '$n')"
  [[ "$slots" =~ ^[1-9][0-9]*$ ]] || die "up: --slots must be a positive integer (got '$slots')"
  need_tools
  down
  trap 'down' ERR
  mkdir -p "$state"
  ip netns add "$switch"
  ip -n "$switch" link set lo up
  ip -n "$switch" link add br0 type bridge
  ip -n "$switch" link set br0 up
  : >"$hostfile"
  local hosts_file="127.0.0.1 localhost"$'\n'
  for i in $(seq "$n"); do hosts_file+="$subnet.$i h$i"$'\n'; done
  for i in $(seq "$n"); do
    local ns="$prefix-h$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # eth0 inside the host, its peer hK on the switch's bridge; neither is in the root namespace.
    ip -n "$switch" link add "h$i" type veth peer name eth0 netns "$ns"
    ip -n "$switch" link set "h$i" master br0 up
    ip -n "$ns" addr add "$subnet.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    # Give up on an unacknowledged TCP connection after ~13 s instead of ~15 min, so that a
    # host that drops off the network is declared lost (mpirun included) as on a tuned cluster.
    ip netns exec "$ns" sh -c "echo $tcp_retries > /proc/sys/net/ipv4/tcp_retries2"
    mkdir -p "/etc/netns/$ns"
    printf '%s' "$hosts_file" >"/etc/netns/$ns/hosts"
    echo "h$i slots=$slots" >>"$hostfile"
  done
  # Wait until every host answers a ping from h1 (the bridge forwards at once, STP is off).
  for i in $(seq 2 "$n"); do
    local ok=0
    for _ in $(seq 50); do
      if ip netns exec "$prefix-h1" ping -c1 -W1 "$subnet.$i" >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.1
    done
    (( ok )) || { down; die "up: h1 cannot reach h$i ($subnet.$i)"; }
  done
  trap - ERR
  echo "netns-cluster: up: $n hosts (h1..h$n on $subnet.0/24), hostfile $hostfile"
}

# Runs a command on host $1 with the host name set (own UTS namespace).
exec_on() {
  local host=$1; shift
  local ns; ns=$(namespace_of "$host")
  exec ip netns exec "$ns" unshare --uts /bin/bash -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

run_mpirun() {
  [[ -f "$hostfile" ]] || die "mpirun: the cluster is not up (scripts/netns-cluster.sh up N)"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # Defaults through the environment, so options on the command line still win.
  export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-${keepalive[0]}}
  export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-${keepalive[1]}}
  export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-${keepalive[2]}}
  local args=(--hostfile "$hostfile"
              --mca plm_rsh_agent "$agent --prefix $prefix"
              --mca btl tcp,self
              --mca btl_tcp_if_include "$subnet.0/24"
              --mca oob_tcp_if_include "$subnet.0/24"
              -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM)
  # The launch agent starts remote daemons with a clean environment (as ssh does): pass on
  # the variables the ranks read.
  local v
  for v in OPENBLAS_NUM_THREADS OPENBLAS_CORETYPE OPENBLAS_L2_SIZE LPFT_ASSETS; do
    [[ -n "${!v:-}" ]] && args+=(-x "$v")
  done
  exec_on h1 mpirun "${args[@]}" "$@"
}

# Bytes per second of a tc rate such as 10gbit, 500mbit.
rate_bytes() {
  local value=${1%[gmk]bit} unit=${1##*[0-9.]}
  [[ "$value" =~ ^[0-9]+$ ]] || die "shape: rate must look like 10gbit, 500mbit (got '$1')"
  case "$unit" in
    gbit) echo $(( value * 125000000 )) ;;
    mbit) echo $(( value * 125000 )) ;;
    kbit) echo $(( value * 125 )) ;;
    *) die "shape: rate must look like 10gbit, 500mbit (got '$1')" ;;
  esac
}

# Shapes every link to RATE each way (a full-duplex port: host → switch on eth0, switch → host
# on the switch port), with DELAY one way (host → switch) when given. The delay needs netem;
# without it (kernels built without CONFIG_NET_SCH_NETEM, like this project's VMs) the rate
# alone is shaped with tbf, and asking for a delay is an error rather than silently ignored.
shape() {
  local rate=$1 delay=${2:-} host
  local bytes; bytes=$(rate_bytes "$rate")
  local netem=0
  if ip netns exec "$switch" tc qdisc add dev lo root netem delay 0 2>/dev/null; then
    netem=1; ip netns exec "$switch" tc qdisc del dev lo root
  fi
  if [[ -n "$delay" && $netem -eq 0 ]]; then
    die "shape: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so a delay cannot be emulated; run 'shape $rate' to shape the rate only (tbf)"
  fi
  # tbf bucket: 10 ms of traffic, at least 256 KiB (veth sends 64 KiB GSO frames).
  local burst=$(( bytes / 100 > 262144 ? bytes / 100 : 262144 ))
  for host in $(hosts); do
    if (( netem )); then
      ip netns exec "$prefix-$host" tc qdisc replace dev eth0 root netem rate "$rate" ${delay:+delay "$delay"} limit 100000
      ip netns exec "$switch" tc qdisc replace dev "$host" root netem rate "$rate" limit 100000
    else
      ip netns exec "$prefix-$host" tc qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 50ms
      ip netns exec "$switch" tc qdisc replace dev "$host" root tbf rate "$rate" burst "$burst" latency 50ms
    fi
  done
  echo "netns-cluster: every link shaped to $rate each way$([[ -n "$delay" ]] && echo ", $delay one way") ($( (( netem )) && echo netem || echo tbf))"
}

unshape() {
  local host
  for host in $(hosts); do
    ip netns exec "$prefix-$host" tc qdisc del dev eth0 root 2>/dev/null || true
    ip netns exec "$switch" tc qdisc del dev "$host" root 2>/dev/null || true
  done
}

status() {
  local host
  for host in $(hosts); do
    local ns="$prefix-$host"
    printf '%s: %s, eth0 %s, %s processes\n' "$host" \
      "$(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}')" \
      "$(ip -n "$switch" -o link show "$host" 2>/dev/null | grep -q 'state UP' && echo up || echo down)" \
      "$(ip netns pids "$ns" | wc -l)"
  done
}

[[ $# -ge 1 ]] || usage
command=$1; shift
case "$command" in
  up)
    [[ $# -ge 1 ]] || usage
    n=$1; shift; slots=1
    [[ "${1:-}" == --slots ]] && { slots=${2:?--slots needs a value}; shift 2; }
    up "$n" "$slots" ;;
  down) down ;;
  run)
    [[ $# -ge 1 ]] || usage
    n=$1; shift; slots=1
    [[ "${1:-}" == --slots ]] && { slots=${2:?--slots needs a value}; shift 2; }
    [[ "${1:-}" == -- ]] && shift
    [[ $# -ge 1 ]] || usage
    trap 'down' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    up "$n" "$slots" >&2
    status=0
    "$@" || status=$?
    exit "$status" ;;
  exec)
    [[ $# -ge 2 ]] || usage
    exec_on "$@" ;;
  mpirun) run_mpirun "$@" ;;
  link)
    [[ $# -eq 2 && ( "$2" == up || "$2" == down ) ]] || usage
    namespace_of "$1" >/dev/null
    ip -n "$switch" link set "$1" "$2" ;;
  kill)
    [[ $# -ge 1 ]] || usage
    kill_namespace "$(namespace_of "$1")" "${2:-KILL}" ;;
  shape) [[ $# -ge 1 && $# -le 2 ]] || usage; shape "$@" ;;
  unshape) unshape ;;
  status) status ;;
  hostfile) echo "$hostfile" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
