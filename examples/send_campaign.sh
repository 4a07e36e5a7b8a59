#!/usr/bin/env bash
# Send a campaign through Missiva's REST API with curl only: from an API key to statistics.
#
#   export MISSIVA_API_KEY=mk_...          # python -m missiva_identity create-api-key \
#                                          #   --account you@example.org --scopes contacts:read \
#                                          #   contacts:write lists:write consent:read \
#                                          #   consent:write campaigns:read campaigns:write \
#                                          #   credits:read
#   export MISSIVA_URL=http://127.0.0.1:50080   # the gateway (`make run` prints it)
#   export MISSIVA_FROM=news@shop.example       # an address on a verified sender domain
#   bash examples/send_campaign.sh [recipients.csv]
#
# The CSV (header line first) needs an `email` column; without one, two example addresses
# are used. The people in it must have agreed to get the newsletter: the import records the
# proof below (who collected the consent, when, and the exact text they agreed to). Sending
# takes credits (see GET /api/v1/credits) and a sender domain delivery has verified.
#
# Steps: credits → a consent purpose → a list → the CSV import (with consent proof) and its
# progress → wait until consent is recorded → a draft campaign → send now (with an
# Idempotency-Key, so a retried call never sends twice) → the campaign's statistics.
# Every error is an RFC 9457 problem (application/problem+json); the script prints it and
# stops. Reference: $MISSIVA_URL/api/v1/docs (OpenAPI at /api/v1/openapi.json).
set -euo pipefail

: "${MISSIVA_API_KEY:?set MISSIVA_API_KEY to an API key (mk_...)}"
URL="${MISSIVA_URL:-http://127.0.0.1:50080}/api/v1"
FROM="${MISSIVA_FROM:-news@example.com}"
WAIT_SECONDS="${MISSIVA_WAIT_SECONDS:-30}"
RUN="$(date +%s)-$$"

# call METHOD PATH [curl options...]: prints the body; a problem stops the script.
call() {
  local method="$1" path="$2"
  shift 2
  local out status
  out="$(curl -sS -X "$method" "$URL$path" -H "Authorization: Bearer $MISSIVA_API_KEY" \
    -w '\n%{http_code}' "$@")"
  status="${out##*$'\n'}"
  out="${out%$'\n'*}"
  if [ "$status" -ge 400 ]; then
    echo "$method $path failed ($status): $out" >&2
    exit 1
  fi
  printf '%s' "$out"
}

# field NAME: the first string value of NAME in the JSON on stdin (the API answers compactly).
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }
number() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -n 1; }

echo "credits:  $(call GET /credits)"

purpose_id="$(call POST /purposes -H 'Content-Type: application/json' \
  -d "{\"key\":\"newsletter-$RUN\",\"name\":\"Newsletter\"}" | field purpose_id)"
echo "purpose:  $purpose_id"

list_id="$(call POST /lists -H 'Content-Type: application/json' \
  -d "{\"name\":\"Newsletter $RUN\",\"purpose_id\":\"$purpose_id\"}" | field list_id)"
echo "list:     $list_id"

csv="${1:-}"
if [ -z "$csv" ]; then
  csv="$(mktemp)"
  trap 'rm -f "$csv"' EXIT
  printf 'email,first_name\nada-%s@example.org,Ada\ngrace-%s@example.org,Grace\n' \
    "$RUN" "$RUN" >"$csv"
fi
# The file is streamed (--data-binary @file), never held whole by the gateway.
import="$(call POST "/imports?list_id=$list_id&consent_collected_by=Example+shop+signup+form&consent_given_at=2026-01-10T10:00:00Z&consent_text=Yes,+send+me+the+newsletter" \
  -H 'Content-Type: text/csv' -H "Idempotency-Key: import-$RUN" --data-binary "@$csv")"
import_id="$(printf '%s' "$import" | field import_id)"
echo "import:   $import"
echo "progress: $(call GET "/imports/$import_id")"

# Consent is recorded by the consent service from the import's proof; wait until the
# first contact may be mailed.
contact_id="$(call GET "/contacts?list_id=$list_id&limit=1" | field contact_id)"
for _ in $(seq "$WAIT_SECONDS"); do
  if call GET "/contacts/$contact_id/consent" | grep -q '"allowed":true'; then
    break
  fi
  sleep 1
done
echo "consent:  $(call GET "/contacts/$contact_id/consent")"

campaign_id="$(call POST /campaigns -H 'Content-Type: application/json' -d "{
  \"name\": \"Newsletter $RUN\", \"purpose_id\": \"$purpose_id\", \"template_id\": \"starter-en\",
  \"list_ids\": [\"$list_id\"], \"sender\": {\"from_name\": \"Example shop\",
  \"from_address\": \"$FROM\"}}" | field campaign_id)"
echo "campaign: $campaign_id"

sent="$(call POST "/campaigns/$campaign_id/send" -H "Idempotency-Key: send-$campaign_id")"
echo "sending:  status $(printf '%s' "$sent" | field status)," \
  "$(printf '%s' "$sent" | number recipient_count) recipients"

for _ in $(seq 5); do
  sleep 1
  stats="$(call GET "/campaigns/$campaign_id/stats")"
done
echo "stats:    $stats"
