#!/usr/bin/env bash
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
stop_daemon controller
