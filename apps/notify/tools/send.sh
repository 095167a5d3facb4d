#!/bin/sh
# Sends a notification through POST /api/notify:
#   NOTIFY_API_KEY=... apps/notify/tools/send.sh USER EVENT ['{"json":"data"}'] [URL]
set -eu
[ $# -ge 2 ] || { echo "usage: send.sh USER EVENT [DATA_JSON] [URL]" >&2; exit 2; }
user=$1 event=$2 data=${3:-null} url=${4:-http://localhost:3000}
key=${NOTIFY_API_KEY:-dev-key-change-me}
body=$(printf '{"user":"%s","event":"%s","data":%s}' "$user" "$event" "$data")
curl -sS -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data "$body" "$url/api/notify"
echo
