#!/usr/bin/env bash
# The LXD alternative to `gym-powergrid cosim lxc up` (classic LXC, docs/cosim_lxc.md).
# Provision LXD containers as remote co-simulation nodes (the SENS set-up), and write a scenario
# that runs the LV example against them.
#
# What it does, on a host with LXD (snap install lxd) and run as root or a member of `lxd`:
#   1. `lxd init --auto` if LXD has no storage pool yet;
#   2. launches a base container from IMAGE (default ubuntu:22.04: Python >= 3.10 is needed),
#      installs python3-venv, creates /opt/gym-powergrid (a venv) and installs
#      "gym-powergrid[cosim]" into it (or the wheel/sdist given with -w, pushed into the
#      container), and authorises your SSH public key for the user USER;
#   3. copies the base container to PREFIX1..PREFIXN, starts them and waits for their IPv4;
#   4. writes a scenario YAML (-o) = the shipped lv_example with `host:` entries pointing at the
#      containers and the allocator bound on this host's address on the LXD bridge.
#
# Then run the co-simulation from this host:
#   gym-powergrid cosim run lxc_scenario.yaml --out results/
# (or python -m gym_powergrid.co_sim run lxc_scenario.yaml). Remove everything with -d.
#
# Usage: provision_lxd.sh [-n 5] [-i ubuntu:22.04] [-p cosim-node] [-u ubuntu]
#                         [-k ~/.ssh/id_ed25519.pub] [-w path/to/gym_powergrid.whl]
#                         [-b lxdbr0] [-o lxc_scenario.yaml] [-d]
# Not exercised by the test suite (it needs LXD); the classic-LXC path is (test_cosim_lxc.py).
set -euo pipefail

N=5
IMAGE="ubuntu:22.04"
PREFIX="cosim-node"
USER_NAME="ubuntu"
PUBKEY="${HOME}/.ssh/id_ed25519.pub"
WHEEL=""
BRIDGE="lxdbr0"
OUT="lxc_scenario.yaml"
DELETE=0

usage() { sed -n '2,23p' "$0"; exit "${1:-0}"; }
while getopts "n:i:p:u:k:w:b:o:dh" opt; do
  case "$opt" in
    n) N="$OPTARG" ;;
    i) IMAGE="$OPTARG" ;;
    p) PREFIX="$OPTARG" ;;
    u) USER_NAME="$OPTARG" ;;
    k) PUBKEY="$OPTARG" ;;
    w) WHEEL="$OPTARG" ;;
    b) BRIDGE="$OPTARG" ;;
    o) OUT="$OPTARG" ;;
    d) DELETE=1 ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done

command -v lxc >/dev/null || { echo "error: lxc (LXD) not found: snap install lxd" >&2; exit 1; }
BASE="${PREFIX}-base"

if [ "$DELETE" = 1 ]; then
  for name in "$BASE" $(seq -f "${PREFIX}%g" 1 "$N"); do
    lxc delete --force "$name" 2>/dev/null && echo "deleted $name" || true
  done
  exit 0
fi

[ -f "$PUBKEY" ] || { echo "error: public key $PUBKEY not found (ssh-keygen -t ed25519)" >&2; exit 1; }
PRIVKEY="${PUBKEY%.pub}"

# 1. LXD initialised?
if ! lxc storage list --format csv 2>/dev/null | grep -q .; then
  echo "+ lxd init --auto"
  lxd init --auto
fi

# 2. the base container
if ! lxc info "$BASE" >/dev/null 2>&1; then
  echo "+ launching $BASE from $IMAGE"
  # if unprivileged containers fail on your host, add: -c security.privileged=true -c security.nesting=true
  lxc launch "$IMAGE" "$BASE"
  lxc exec "$BASE" -- cloud-init status --wait >/dev/null 2>&1 || sleep 10
  lxc exec "$BASE" -- bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq python3-venv python3-pip openssh-server >/dev/null"
  lxc exec "$BASE" -- python3 -m venv /opt/gym-powergrid
  if [ -n "$WHEEL" ]; then
    lxc file push "$WHEEL" "$BASE/tmp/$(basename "$WHEEL")"
    SPEC="/tmp/$(basename "$WHEEL")[cosim]"
  else
    SPEC="gym-powergrid[cosim]"
  fi
  lxc exec "$BASE" -- /opt/gym-powergrid/bin/pip install -q "$SPEC"
  lxc exec "$BASE" -- /opt/gym-powergrid/bin/python -c \
    "import gym_powergrid.co_sim.node, zmq, simpy, msgpack; print('gym_powergrid ok')"
  lxc exec "$BASE" -- bash -c "id -u $USER_NAME >/dev/null 2>&1 || useradd -m -s /bin/bash $USER_NAME"
  lxc exec "$BASE" -- bash -c "install -d -m 700 -o $USER_NAME -g $USER_NAME /home/$USER_NAME/.ssh"
  lxc file push "$PUBKEY" "$BASE/home/$USER_NAME/.ssh/authorized_keys" --uid 1000 --gid 1000 --mode 600
  lxc exec "$BASE" -- chown -R "$USER_NAME:$USER_NAME" "/home/$USER_NAME/.ssh"
  lxc stop "$BASE"
fi

# 3. the nodes
declare -a IPS
for i in $(seq 1 "$N"); do
  name="${PREFIX}${i}"
  if ! lxc info "$name" >/dev/null 2>&1; then
    echo "+ lxc copy $BASE $name"
    lxc copy "$BASE" "$name"
  fi
  lxc start "$name" 2>/dev/null || true
done
for i in $(seq 1 "$N"); do
  name="${PREFIX}${i}"
  ip=""
  for _ in $(seq 1 60); do
    ip="$(lxc list "$name" --format csv -c 4 | grep -oE '([0-9]+\.){3}[0-9]+' | head -n1 || true)"
    [ -n "$ip" ] && break
    sleep 1
  done
  [ -n "$ip" ] || { echo "error: $name has no IPv4 address after 60 s" >&2; exit 1; }
  IPS[$i]="$ip"
  echo "$name $ip"
done
HOST_IP="$(lxc network get "$BRIDGE" ipv4.address | cut -d/ -f1)"

# 4. the scenario: lv_example's curves and grid, nodes in the containers
CURVES="$(python3 -c 'from gym_powergrid.co_sim.scenarios import SCENARIO_DIR; print(SCENARIO_DIR / "lv_example" / "curves.csv.gz")' 2>/dev/null || echo curves.csv.gz)"
{
  echo "# written by provision_lxd.sh: the LV example with its clients in LXD containers"
  echo "name: lv_example_lxc"
  echo "grid: {pandapower: lv_example}"
  echo "curves: $CURVES"
  echo "mode: lockstep"
  echo "steps: 288"
  echo "step_timeout_s: 5.0"
  echo "allocator: {bind: \"0.0.0.0:5555\", advertise: \"$HOST_IP\", node_timeout_s: 10.0}"
  echo "nodes:"
  for i in $(seq 1 "$N"); do
    c=$(( (i - 1) % 5 + 1 ))
    echo "  - id: client$i"
    echo "    host: {hostname: ${IPS[$i]}, username: $USER_NAME, keyfile: $PRIVKEY,"
    echo "           python: /opt/gym-powergrid/bin/python, strict_host_key: false}"
    echo "    meters: {load: Load_$c, pv: PV_$c}"
    echo "    element: {load: Load_$c, pv: PV_$c}"
  done
} > "$OUT"
echo "wrote $OUT; run: gym-powergrid cosim run $OUT --out results/"
