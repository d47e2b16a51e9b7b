#!/usr/bin/env bash
# The README's test command: installs the Debian packages the workspace's tests need (when
# missing; as root, or through sudo), then runs them. .ci/run calls it too.
#   tshark            the evidence cross-check and the decoders compared with Wireshark's
#   rsyslog           the CEF syslog tests' receiver (started by each test on loopback ports),
#                     and the forwarder the sensor's event intake tests take events from
#   rsyslog-openssl   its TLS listener and forwarder (syslog over TLS)
#   bsdutils, curl    `logger` (syslog over UDP) and curl (NDJSON over HTTPS) for the intake
#   openssl, mkfifo   certificates and the watched folder's refusal test
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(tshark rsyslog rsyslog-openssl bsdutils curl openssl coreutils)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "the tests need these Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]}) and run this again" >&2
    exit 2
  fi
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer before installing.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | "${as_root[@]}" debconf-set-selections
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --workspace "$@"
