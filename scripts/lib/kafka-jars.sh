#!/usr/bin/env bash
# Fetches the Kafka broker's jars (kafka_2.13 and its run-time dependencies, see
# scripts/lib/kafka/pom.xml) from Maven Central into a cache folder reused
# between runs, and prints that folder's libs/ path when asked (--print-dir).
# Idempotent and silent when the jars are already there.
#
# Invariant: the cache folder holds a complete set or no `complete` marker; a
# half-finished download is redone (copied to a temp folder, then renamed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
cache="${FIRSTCOME_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/firstcome/kafka-$version}"

if [ ! -f "$cache/complete" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/libs.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "kafka-jars: fetching Kafka $version jars into $cache" >&2
  if ! mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$cache/mvn.log" 2>&1; then
    echo "kafka-jars: maven failed; see $cache/mvn.log" >&2
    exit 1
  fi
  # Why the checks: the service script needs both entry points on this classpath.
  for jar in "kafka_2.13-$version.jar" "kafka-raft-$version.jar" "kafka-metadata-$version.jar"; do
    [ -f "$tmp/$jar" ] || { echo "kafka-jars: $jar missing after download" >&2; exit 1; }
  done
  rm -rf "$cache/libs"
  mv "$tmp" "$cache/libs"
  trap - EXIT
  echo "$version" > "$cache/complete"
fi

if [ "${1:-}" = "--print-dir" ]; then echo "$cache/libs"; fi
