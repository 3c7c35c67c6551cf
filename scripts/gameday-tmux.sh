#!/usr/bin/env bash
# Plays a short game day for real, in a terminal multiplexer: starts
# `aviary gameday` in a detached tmux session, sends keys as a trainee would
# (pause, speed, a note, a hold from the command line, a rollback confirmed
# with y), resizes the window mid-exercise, captures the screen at each
# stage into OUT_DIR, ends the exercise with q y, and checks that the
# session log was written and replays. Needs tmux (Debian: apt-get install
# tmux). Usage: scripts/gameday-tmux.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p "${1:-target/gameday-tmux}"
out=$(cd "${1:-target/gameday-tmux}" && pwd)
command -v tmux >/dev/null || { echo "tmux is not installed (Debian: apt-get install tmux)" >&2; exit 2; }
cargo build --release -p cli >/dev/null 2>&1
bin=$PWD/target/release/aviary
session_log=$out/session.jsonl
name=aviary-gameday-$$
rm -f "$session_log" "$out"/*.txt
tmux kill-session -t "$name" 2>/dev/null || true
tmux new-session -d -s "$name" -x 120 -y 48 \
  "$bin gameday checkout-error-spike --seed 1 --speed 120 --session '$session_log' > '$out/debrief.txt'; sleep 30"
trap 'tmux kill-session -t "$name" 2>/dev/null || true' EXIT
shot() { sleep "${2:-0.5}"; tmux capture-pane -p -t "$name" > "$out/$1.txt"; }
keys() { tmux send-keys -t "$name" "$@"; }

shot 01-start 2
# Let the clock run past the rollout's start (10 min at 120x: 5 s), then pause.
sleep 4
keys ' '
shot 02-paused
keys '+'                       # 240x
keys n 'first canary step looks fine' Enter
keys ' '
sleep 2
keys ':' 'hold' Enter          # hold from the command line
shot 03-held
tmux resize-window -t "$name" -x 100 -y 40
shot 04-resized 1
tmux resize-window -t "$name" -x 140 -y 50
keys r                         # roll back: asks for confirmation
shot 05-confirm
keys y
shot 06-rolled-back 2
keys q
shot 07-quit-confirm
keys y
sleep 2
test -s "$session_log" || { echo "no session log at $session_log" >&2; exit 1; }
test -s "$out/debrief.txt" || { echo "no debrief printed" >&2; exit 1; }
"$bin" replay "$session_log" --format json > "$out/replay.json"
grep -q '"by":"trainee"' "$session_log" || { echo "the log holds no trainee command" >&2; exit 1; }
grep -q 'FIRING\|ok ' "$out/03-held.txt" || { echo "no alerts on the screen" >&2; exit 1; }
grep -q 'PAUSED' "$out/02-paused.txt" || { echo "pausing did not show" >&2; exit 1; }
grep -q 'y to confirm' "$out/05-confirm.txt" || { echo "the rollback asked for no confirmation" >&2; exit 1; }
echo "ok: screens in $out/*.txt, the session in $session_log, its debrief in $out/debrief.txt"
