#!/usr/bin/env bash
# samples node 1's status every 0.5 s while the harness runs
out=$1; end=$((SECONDS + ${2:-1200}))
while [ $SECONDS -lt $end ] && [ ! -e /tmp/sampler.stop ]; do
  s=$(/tmp/totembench/build/totem/totemctl --socket /tmp/totembench/totemd/node1/totemd.sock status --json 2>/dev/null) && echo "$(date +%s.%N) $s" >> "$out"
  sleep 0.5
done
