#!/usr/bin/env bash
# README.md's "Calling the API", block by block, exactly as printed there: tests/test_readme.py
# checks that they match and runs this script against `todo-api serve` on SQLite and PostgreSQL.
# With `make dev` running: `bash examples/curl.sh`. Another server: BASE=… TOKEN=… bash examples/curl.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TOKEN=${TOKEN:-$(.venv/bin/todo-api token alice)}
BASE=${BASE:-http://127.0.0.1:8000}
API=$BASE/api/alice/tasks
H="Authorization: Bearer $TOKEN"
# want STATUS curl …: prints the body, then the status; anything but STATUS stops the script.
want() {
    local wanted=$1 answer status
    shift
    answer=$("$@" -sS -w '\n%{http_code}') || return
    status=${answer##*$'\n'}
    printf '%s\n' "${answer%$'\n'*}"
    echo "HTTP $status" >&2
    [ "$status" = "$wanted" ] || { echo "wanted $wanted" >&2; return 1; }
}
# json FIELD: that field of the JSON answer on stdin (no jq needed).
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

want 200 curl -H "$H" $API                                      # list: a JSON array
ID=$(want 201 curl -H "$H" -H 'Content-Type: application/json' \
     -d '{"title": "Buy milk", "description": "2 litres"}' $API | json id)   # create: the task
want 200 curl -H "$H" $API/$ID                                  # get: the task
want 200 curl -H "$H" -H 'Content-Type: application/json' -X PUT \
     -d '{"title": "Buy oat milk", "completed": true}' $API/$ID  # update: the task
want 200 curl -H "$H" -X PATCH $API/$ID/complete                # flip completed: now false
want 422 curl -H "$H" -H 'Content-Type: application/json' \
     -d '{"title": "Buy tea", "dueDate": "2027-01-15"}' $API     # misspelt: due_date is the field

want 201 curl -H "$H" -H 'Content-Type: application/json' \
     -d '{"title": "Book the été trip", "priority": "high", "due_date": "2026-11-28"}' $API
want 201 curl -H "$H" -H 'Content-Type: application/json' \
     -d '{"title": "Renew passport", "priority": "medium", "due_date": "2027-01-15"}' $API
want 200 curl -H "$H" "$API?status=pending&sort=due_at&limit=50"         # the next 50 things to do
want 200 curl -H "$H" "$API?priority=high,medium&sort=-priority,due_at"  # the trip, the passport
want 200 curl -H "$H" -G "$API" --data-urlencode 'q=ÉTÉ' \
     --data-urlencode 'due_before=2026-12-01T00:00:00+01:00'             # the trip
curl -sS -o /dev/null -D - -H "$H" "$API?limit=2" | grep -i '^link'     # where the next page is

want 201 curl -H "$H" -H 'Content-Type: application/json' \
     -d '{"title": "Call Sam", "tags": ["Work", "phone"]}' $API
want 200 curl -H "$H" "$API?tag=work"                              # tasks tagged work (any case)
want 200 curl -H "$H" $BASE/api/alice/tags                         # [{"name": "phone", …}, …]
want 200 curl -H "$H" -H 'Content-Type: application/json' -X PATCH -d '{"name": "Office"}' \
     $BASE/api/alice/tags/work                                     # renamed on every task
want 204 curl -H "$H" -X DELETE $BASE/api/alice/tags/phone         # off every task

want 200 curl -H "$H" -H 'Content-Type: application/merge-patch+json' -X PATCH \
     -d '{"description": null, "completed": true}' $API/$ID         # the task
want 422 curl -H "$H" -H 'Content-Type: application/merge-patch+json' -X PATCH \
     -d '{"title": null}' $API/$ID                                  # a title cannot be cleared

ETAG=$(curl -sS -I -H "$H" $API/$ID | grep -i '^etag:' | cut -d' ' -f2 | tr -d '\r')  # "4"
want 200 curl -H "$H" -H "If-Match: $ETAG" -H 'Content-Type: application/json' -X PATCH \
     -d '{"title": "Buy soy milk"}' $API/$ID                        # version 5
want 412 curl -H "$H" -H "If-Match: $ETAG" -H 'Content-Type: application/json' -X PATCH \
     -d '{"title": "Buy rice milk"}' $API/$ID                       # it changed since "4"
want 304 curl -H "$H" -H 'If-None-Match: "5"' $API/$ID               # unchanged: no body

KEY=$(python3 -c 'import uuid; print(uuid.uuid4())')   # one key per task you mean to create
RENT=$(want 201 curl -H "$H" -H 'Content-Type: application/json' -H "Idempotency-Key: $KEY" \
     -d '{"title": "Pay rent"}' $API | json id)
want 201 curl -i -H "$H" -H 'Content-Type: application/json' -H "Idempotency-Key: $KEY" \
     -d '{"title": "Pay rent"}' $API     # a retry: the same task, and idempotent-replayed: true

MEETING=$(want 201 curl -H "$H" -H 'Content-Type: application/json' $API -d '{"title": "Team sync",
     "due_date": "2030-03-25", "due_time": "09:00", "timezone": "Europe/Berlin",
     "recurrence": "FREQ=WEEKLY;BYDAY=MO", "reminders": [15]}' | json id)  # due_at 08:00Z
NEXT=$(want 200 curl -H "$H" -X PATCH $API/$MEETING/complete | json next_task_id)
want 200 curl -H "$H" $API/$NEXT     # due 2030-04-01 09:00 Berlin, summer time: due_at 07:00Z

want 200 curl -H "$H" $BASE/api/alice/reminders                    # the next 24 hours
want 200 curl -H "$H" -G $BASE/api/alice/reminders \
     --data-urlencode 'from=2030-03-30T00:00:00+01:00' --data-urlencode 'to=2030-04-06T00:00:00+02:00'
# [{"task_id": …, "title": "Team sync", "due_at": "2030-04-01T07:00:00+00:00", "remind_at": "2030-04-01T06:45:00+00:00"}]

FEED=$(want 201 curl -H "$H" -X POST $BASE/api/alice/calendar-feed | json url)
echo "$FEED"        # /calendar/Xq…43 characters….ics: subscribe to http(s)://<your host> + that
want 200 curl $BASE$FEED                                          # no token: BEGIN:VCALENDAR …
want 204 curl -H "$H" -X DELETE $BASE/api/alice/calendar-feed     # revoked
want 404 curl $BASE$FEED                                          # that address is gone

C=$(want 200 curl -H "$H" $BASE/api/alice/changes | json cursor)  # everything; keep the cursor
want 200 curl -H "$H" -X PATCH $API/$ID/complete
want 204 curl -H "$H" -X DELETE $API/$RENT                        # delete for good
want 200 curl -H "$H" "$BASE/api/alice/changes?since=$C"   # {"tasks": [task $ID], "deleted": [$RENT], …}

curl -sSN --fail --max-time 2 -H "$H" "$BASE/api/alice/events?since=$C" || [ $? = 28 ]
# id: eyJ0IjoxNzk…
# event: changed
# data: {"id":1,"user_id":"alice","title":"Buy soy milk",…}
#
# id: eyJ0IjoxNzk…
# event: deleted
# data: {"id":5}
