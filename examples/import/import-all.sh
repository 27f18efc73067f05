#!/usr/bin/env bash
# Imports the sample exports of three systems into one database:
#   examples/import/import-all.sh [DB]      (PATRON=path/to/patron to use another build)
# The patient list and appointments come from a practice-management system (US dates,
# its own column names), the orders from an online store, the points from a loyalty
# platform; --system keeps each system's keys apart until merges.ndjson says that
# the store's ava@example.com is patient 1042.
set -euo pipefail
cd "$(dirname "$0")"
PATRON="${PATRON:-patron}"
DB="${1:-import-example.patron}"
"$PATRON" import patients.csv --db "$DB" --type client --system mindbody --date-format "%m/%d/%Y %H:%M" \
    --map "Patient ID=client,Created=at,First Name=name,Email=email,Home Clinic=location,Referral Source=source"
"$PATRON" import appointments.csv --db "$DB" --type visit --system mindbody --date-format "%m/%d/%Y %H:%M" \
    --map "Patient ID=client,Appt Date=at,Provider Name=provider,Treatments=services,Location=location"
"$PATRON" import orders.ndjson --db "$DB" --system shopify
"$PATRON" import loyalty.csv --db "$DB" --type reward --system mindbody --map "member=client,date=at"
"$PATRON" import merges.ndjson --db "$DB"
