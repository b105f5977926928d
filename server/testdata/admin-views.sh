#!/bin/sh
# admin-views.sh URL DIR: fetch the admin views a `parley migrate` must keep
# the same (those TestMigrate_ThereAndBack compares, at a seeded store's
# scale) from the Parley serving at URL, one file per view in DIR. Run it
# against the original store, PostgreSQL and the copy back, then
# `diff -r DIR1 DIR2`. Needs curl, jq and PARLEY_ADMIN_TOKEN.
#
# Each answer is kept with its keys sorted (jq -S), a list's `next` cursor
# as true or false (cursors are sealed with a key of the serving process,
# so they differ between processes; the second page is fetched with each
# server's own), and without `waitedSeconds` (the clock). Periods are
# fixed, so the answers do not depend on when they are asked. A visitor or
# session whose details are fetched is taken from this server's own list:
# a list that differs shows as differing files.
set -eu
url=$1 out=$2
mkdir -p "$out"
period='from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z'
year='from=2025-01-01T00:00:00Z&to=2026-12-07T00:00:00Z'

# get PATH [NAME]: the answer to GET PATH, normalised, in $out/NAME (PATH
# made a file name when no NAME); a status other than 200 is kept in
# the file and named on stderr.
get() {
	name=${2:-$(printf '%s' "$1" | tr -c 'A-Za-z0-9=_.-' '_')}
	code=$(curl -sS -o "$out/.raw" -w '%{http_code}' -H "Authorization: Bearer $PARLEY_ADMIN_TOKEN" "$url$1")
	if [ "$code" != 200 ]; then
		echo "$url$1: $code" >&2
		{ echo "status $code"; cat "$out/.raw"; } > "$out/$name"
	elif jq -e . "$out/.raw" > /dev/null 2>&1; then
		jq -S 'walk(if type == "object" then del(.waitedSeconds) | if has("next") then .next |= (. != null) else . end else . end)' \
			"$out/.raw" > "$out/$name"
	else
		cp "$out/.raw" "$out/$name" # a CSV
	fi
}

# list PATH: the first page of a list and, when there is one, the second,
# fetched with the first's cursor.
list() {
	get "$1"
	next=$(jq -r '.next // empty' "$out/.raw")
	if [ -n "$next" ]; then
		get "$1&cursor=$next" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9=_.-' '_')-page2"
	fi
}

# The user-sessions overview: each flag, all three, a search.
for f in '' '&engaged=1' '&files=1' '&inputs=1' '&engaged=1&files=1&inputs=1' '&limit=500' '&q=anna' '&q=m%C3%BCller' '&q=%2B49%2015' '&q=anna.schmidt'; do
	list "/admin/api/users?$period$f"
done
list "/admin/api/users?limit=20"
get "/admin/api/users.csv?$period&files=1&engaged=1&inputs=1"

# A few visitors: the profile and its sessions, with and without a flag.
for f in '&files=1&limit=5' '&limit=3'; do
	get "/admin/api/users?$period$f"
	for id in $(jq -r '.items[].id' "$out/.raw"); do
		get "/admin/api/users/$id"
		list "/admin/api/users/$id/sessions?limit=2"
		get "/admin/api/users/$id/sessions?$period&files=1"
	done
done

# The sessions dashboard: every filter, the statuses that do not depend on
# the clock in a past period.
for f in '' '&limit=500' '&channel=app' '&bot=support' '&bot=demo&version=2' '&responses=1' '&responses=0' '&goal=lead' '&goal=*' \
	'&block=ask_file' '&tag=pricing' '&forms=1' '&type=support' '&lang=de' '&lang=DE-ch' '&sentiment=negative' '&sentiment=positive' \
	'&sentiment=unknown' '&unanswered=1' '&status=closed' '&status=inactive' '&status=open' '&status=active' '&q=anna' \
	'&site=demo' '&bot=demo&goal=lead&lang=en&forms=1'; do
	list "/admin/api/sessions?$period$f"
done

# Transcripts: the newest sessions, and some with a file.
for f in '&limit=5' '&block=ask_file&limit=5' '&unanswered=1&limit=3'; do
	get "/admin/api/sessions?$period$f" sessions
	for id in $(jq -r '.items[].id' "$out/.raw"); do
		get "/admin/api/sessions/$id"
	done
done

# Usage, Knowledge gaps, the funnel, over the period and the whole year.
for p in "$period" "$year"; do
	for f in '' '&bot=demo' '&bot=demo&version=2' '&channel=app' '&bot=support&channel=web'; do
		get "/admin/api/usage?$p$f"
	done
	for f in '' '&bot=support' '&limit=500'; do
		get "/admin/api/gaps?$p$f"
	done
	get "/admin/api/gaps.csv?$p"
	for f in 'bot=demo' 'bot=demo&version=1' 'bot=demo&version=2' 'bot=support' 'bot=demo&site=demo'; do
		get "/admin/api/funnel?$p&$f"
	done
done

get /admin/api/inbox
get /admin/api/agents
rm -f "$out/.raw"
echo "$out: $(ls "$out" | wc -l) views"
