# shellcheck shell=bash
# Sourced by steps of .github/workflows/chart.yml.
#
#   port_forward TARGET LOCAL_PORT [REMOTE_PORT]
#
# Runs `kubectl port-forward TARGET LOCAL_PORT:REMOTE_PORT` in the background (output in
# $RUNNER_TEMP/port-forward-*.log), waits until /healthz answers through it, and stops it
# when the sourcing step's shell exits, so the next step can forward the same port again
# (pods are replaced by `helm upgrade`, which breaks an old forward).
port_forward() {
  local target="$1" local_port="$2" remote_port="${3:-80}"
  local log
  log="${RUNNER_TEMP:-/tmp}/port-forward-${local_port}-$(date +%s).log"
  kubectl port-forward "$target" "${local_port}:${remote_port}" >"$log" 2>&1 &
  PORT_FORWARD_PID=$!
  # Every forward the step opened, stopped together when its shell exits.
  PORT_FORWARD_PIDS="${PORT_FORWARD_PIDS:-} $PORT_FORWARD_PID"
  trap 'kill $PORT_FORWARD_PIDS 2>/dev/null || true' EXIT
  local _
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "http://127.0.0.1:${local_port}/healthz" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$PORT_FORWARD_PID" 2>/dev/null; then
      echo "::error::kubectl port-forward $target exited"
      cat "$log"
      return 1
    fi
    sleep 1
  done
  echo "::error::no answer from /healthz through port-forward to $target within 60 s"
  cat "$log"
  return 1
}
