"""The quick-add reading (`todo_api.quickadd.reading`): pure, no database.

Dates are compared as values; recurrences by the occurrences they give from the due date read,
never by their text.
"""

import os
import subprocess
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from urllib.parse import unquote

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from todo_api.core.models import Priority
from todo_api.quickadd.reading import Reading, read
from todo_api.tasks import recurrence
from todo_api.tasks.derived import due_at

# recurrent makes its parsedatetime Calendar the deprecated way, on every reading.
LISTS = {"Work": 1, "Family": 2, "Big Project": 3, "Büro": 4}
# A Thursday.
THURSDAY = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def reading(text: str, zone: str = "UTC", now: datetime = THURSDAY) -> Reading:
    return read(text, zone=zone, now=now, list_names=LISTS)


def occurrences(found: Reading, count: int) -> list[datetime]:
    """The first `count` occurrences of the rule read, anchored at the due date read: the
    series the API stores (its first occurrence is the due date itself)."""
    assert found.recurrence is not None and found.due_date is not None
    start = datetime.combine(found.due_date, found.due_time or time(0))
    return list(islice(rrulestr(found.recurrence, dtstart=start), count))


def days(*values: str) -> list[datetime]:
    return [datetime.fromisoformat(value) for value in values]


# --- The SPEC's examples ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "due_date", "due_time"),
    [
        ("Buy milk tomorrow 5pm", "Buy milk", date(2026, 12, 4), time(17, 0)),
        ("Team meeting next monday", "Team meeting", date(2026, 12, 7), None),
        ("Pay rent on 3 March", "Pay rent", date(2027, 3, 3), None),
        ("Call the bank in 2 days at 9:30", "Call the bank", date(2026, 12, 5), time(9, 30)),
        ("tomorrow at 5pm call mom", "call mom", date(2026, 12, 4), time(17, 0)),
        ("Dentist at 5pm on friday", "Dentist", date(2026, 12, 4), time(17, 0)),
        ("Report due 2026-12-24", "Report due", date(2026, 12, 24), None),
        ("Launch March 3rd, 2027 at 10am", "Launch", date(2027, 3, 3), time(10, 0)),
        ("Launch the 3rd of March", "Launch", date(2027, 3, 3), None),
        ("Call Bob tomorrow at 9", "Call Bob", date(2026, 12, 4), time(9, 0)),
        ("Plan next week", "Plan", date(2026, 12, 10), None),
        ("Stretch in 2 hours", "Stretch", date(2026, 12, 3), time(12, 0)),
        ("Garden on sat", "Garden", date(2026, 12, 5), None),
        ("Tidy up tonight", "Tidy up", date(2026, 12, 3), None),
        ("Dance today", "Dance", date(2026, 12, 3), None),
    ],
)
def test_a_date_and_time_in_words(
    text: str, title: str, due_date: date, due_time: time | None
) -> None:
    found = reading(text)
    assert (found.title, found.due_date, found.due_time) == (title, due_date, due_time)
    assert found.timezone == "UTC"
    assert found.recurrence is None


def test_without_a_date_there_is_no_zone() -> None:
    found = reading("Buy milk")
    assert (found.due_date, found.due_time, found.timezone, found.parsed) == (None, None, None, [])


def test_the_future_is_preferred_as_dateparser_reads_it() -> None:
    evening = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    assert reading("Call at 5pm", now=evening).due_date == date(2026, 12, 4)
    assert reading("Call at 7pm", now=evening).due_date == date(2026, 12, 3)
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert reading("Gym monday", now=monday).due_date == date(2026, 12, 14)
    assert reading("Gym today", now=monday).due_date == date(2026, 12, 7)


# --- Time zones and DST -----------------------------------------------------------------------

# Saturday 23:30 UTC is Sunday 00:30 in Berlin, the day its clocks go forward (29 March 2026).
BERLIN_SPRING_EVE = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


def test_tomorrow_is_the_zones_tomorrow() -> None:
    assert reading("Bake tomorrow", "Europe/Berlin", BERLIN_SPRING_EVE).due_date == date(
        2026, 3, 30
    )
    assert reading("Bake tomorrow", "UTC", BERLIN_SPRING_EVE).due_date == date(2026, 3, 29)
    found = reading("Bake tomorrow at 9am", "Europe/Berlin", BERLIN_SPRING_EVE)
    assert (found.due_date, found.due_time, found.timezone) == (
        date(2026, 3, 30),
        time(9, 0),
        "Europe/Berlin",
    )
    # 09:00 summer time.
    assert due_at(found.due_date, found.due_time, found.timezone) == datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC
    )


def test_next_monday_when_it_is_already_monday_in_the_zone() -> None:
    sunday_night = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # Monday 00:30 in Berlin
    assert reading("Plan next monday", "UTC", sunday_night).due_date == date(2026, 12, 7)
    assert reading("Plan next monday", "Europe/Berlin", sunday_night).due_date == date(2026, 12, 14)


def test_a_time_that_dst_skips_is_kept_as_said() -> None:
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    found = reading("Night shift tomorrow at 2:30", "Europe/Berlin", saturday)
    assert (found.due_date, found.due_time) == (date(2026, 3, 29), time(2, 30))
    # The API reads a skipped 02:30 with the offset before the change (RFC 5545).
    assert due_at(found.due_date, found.due_time, found.timezone) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("now", "zone", "due_date", "due_time"),
    [
        # 01:30 CET + 2 h = 04:30 CEST (the hour from 02:00 does not exist).
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/Berlin", date(2026, 3, 29), time(4, 30)),
        # 02:30 CEST + 2 h = 03:30 CET (the hour from 02:00 happens twice).
        (
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            "Europe/Berlin",
            date(2026, 10, 25),
            time(3, 30),
        ),
        # 01:30 EST + 2 h = 04:30 EDT.
        (
            datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
            "America/New_York",
            date(2026, 3, 8),
            time(4, 30),
        ),
        # 01:30 EDT + 2 h = 02:30 EST (the hour from 01:00 happens twice).
        (
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
            "America/New_York",
            date(2026, 11, 1),
            time(2, 30),
        ),
    ],
)
def test_in_hours_is_an_instant_across_dst(
    now: datetime, zone: str, due_date: date, due_time: time
) -> None:
    found = reading("Check the oven in 2 hours", zone, now)
    assert (found.due_date, found.due_time) == (due_date, due_time)
    assert due_at(found.due_date, found.due_time, zone) == (now + timedelta(hours=2)).replace(
        second=0
    )


def test_new_york_across_its_dst_days() -> None:
    # Saturday 23:30 EST, the eve of the spring change; 04:30 UTC is already Sunday.
    eve = datetime(2026, 3, 8, 4, 30, tzinfo=UTC)
    found = reading("Brunch tomorrow at 9am", "America/New_York", eve)
    assert (found.due_date, found.due_time) == (date(2026, 3, 8), time(9, 0))
    assert due_at(found.due_date, found.due_time, found.timezone) == datetime(
        2026, 3, 8, 13, 0, tzinfo=UTC
    )
    assert reading("Brunch tomorrow at 9am", "UTC", eve).due_date == date(2026, 3, 9)
    # Saturday 23:30 EDT on the eve of the autumn change.
    autumn_eve = datetime(2026, 11, 1, 3, 30, tzinfo=UTC)
    found = reading("Brunch tomorrow at 9am", "America/New_York", autumn_eve)
    assert due_at(found.due_date, found.due_time, found.timezone) == datetime(
        2026, 11, 1, 14, 0, tzinfo=UTC
    )


def test_a_recurrence_starts_on_the_zones_today() -> None:
    assert reading("Water plants every day", "Europe/Berlin", BERLIN_SPRING_EVE).due_date == (
        date(2026, 3, 29)
    )
    assert reading("Water plants every day", "UTC", BERLIN_SPRING_EVE).due_date == (
        date(2026, 3, 28)
    )


def test_a_weekly_time_stays_local_across_dst() -> None:
    thursday = datetime(2026, 3, 19, 12, 0, tzinfo=UTC)
    found = reading("Standup every monday at 9am", "Europe/Berlin", thursday)
    firsts = occurrences(found, 2)
    assert firsts == days("2026-03-23T09:00", "2026-03-30T09:00")
    assert [due_at(day.date(), found.due_time, found.timezone) for day in firsts] == [
        datetime(2026, 3, 23, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
    ]


def test_the_machines_zone_plays_no_part() -> None:
    before = reading("Call tomorrow at 5pm every week", "America/New_York")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"
    clock.tzset()
    try:
        after = reading("Call tomorrow at 5pm every week", "America/New_York")
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        clock.tzset()
    assert after == before


# --- Recurrence, by its occurrences -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every day", days("2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06")),
        (
            "every weekday",
            days("2026-12-03", "2026-12-04", "2026-12-07", "2026-12-08", "2026-12-09"),
        ),
        ("every 2 weeks on monday", days("2026-12-07", "2026-12-21", "2027-01-04", "2027-01-18")),
        ("every month on the 15th", days("2026-12-15", "2027-01-15", "2027-02-15", "2027-03-15")),
        ("every year", days("2026-12-03", "2027-12-03", "2028-12-03")),
        (
            "every tuesday and thursday",
            days("2026-12-03", "2026-12-08", "2026-12-10", "2026-12-15"),
        ),
        ("every week", days("2026-12-03", "2026-12-10", "2026-12-17")),
        ("every other day", days("2026-12-03", "2026-12-05", "2026-12-07")),
        ("every monday at 9am", days("2026-12-07T09:00", "2026-12-14T09:00")),
        ("every day at 9am", days("2026-12-04T09:00", "2026-12-05T09:00")),  # 9am passed
        ("every weekend", days("2026-12-05", "2026-12-06", "2026-12-12")),
        ("every month on the 31st", days("2026-12-31", "2027-01-31", "2027-03-31")),
        ("every first monday of the month", days("2026-12-07", "2027-01-04", "2027-02-01")),
        ("every year on march 3", days("2027-03-03", "2028-03-03")),
        ("every 3 months", days("2026-12-03", "2027-03-03", "2027-06-03")),
        ("every day starting next monday", days("2026-12-07", "2026-12-08")),
    ],
)
def test_each_recurrence_phrase_by_its_occurrences(text: str, expected: list[datetime]) -> None:
    found = reading(f"Task {text}")
    assert found.title == "Task"
    assert occurrences(found, len(expected)) == expected
    assert recurrence.check(found.recurrence or "") == found.recurrence
    assert found.timezone == "UTC"


def test_an_ended_recurrence() -> None:
    found = reading("Pills every day until january 5")
    assert found.title == "Pills"
    series = occurrences(found, 100)
    assert (series[0], series[-1], len(series)) == (
        datetime(2026, 12, 3),
        datetime(2027, 1, 5),
        34,
    )
    counted = reading("Pills every day 5 times")
    assert occurrences(counted, 100) == days(*(f"2026-12-0{n}" for n in range(3, 8)))


def test_a_recurrence_with_its_own_date_starts_at_the_first_occurrence_from_it() -> None:
    found = reading("Review tomorrow every monday")  # tomorrow is a Friday
    assert occurrences(found, 2) == days("2026-12-07", "2026-12-14")
    found = reading("Pay on 3 March every year")
    assert occurrences(found, 2) == days("2027-03-03", "2028-03-03")
    found = reading("Run every day starting tomorrow at 5pm")
    assert found.title == "Run"
    assert occurrences(found, 2) == days("2026-12-04T17:00", "2026-12-05T17:00")


def test_words_recurrent_would_misread_are_left_to_the_date() -> None:
    # recurrent reads `every year on 3 march` as every 3 years: refused; `every year` is read
    # and `on 3 march` is the date the series starts at.
    found = reading("Anniversary every year on 3 march")
    assert found.title == "Anniversary"
    assert occurrences(found, 3) == days("2027-03-03", "2028-03-03", "2029-03-03")
    # recurrent would drop `tomorrow`: it is the date's, not the rule's.
    found = reading("Call every week tomorrow at 5pm")
    assert found.title == "Call"
    assert occurrences(found, 2) == days("2026-12-04T17:00", "2026-12-11T17:00")
    # recurrent keeps 9am and drops 5pm (twice a day is no task's rule): 5pm is not read.
    found = reading("Pills every day at 9am and 5pm")
    assert (found.title, found.recurrence, found.due_time) == (
        "Pills and 5pm",
        "FREQ=DAILY",
        time(9),
    )


@pytest.mark.parametrize(
    "text", ["Weekly report", "Every little thing", "every", "every hour", "every 0 days"]
)
def test_no_recurrence(text: str) -> None:
    found = reading(text)
    assert (found.recurrence, found.title) == (None, text)


# --- What is not a date -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "The 5th Wave",
        "Mayday",
        "Maybe later",
        "may the force be with you",
        "sat on the sun",
        "second opinion",
        "Sundays are for rest",
        "Tomorrowland tickets",
        "Buy 2 apples",
        "Room 101",
        "Table for 4 at 8",
        "Read chapter 5",
        "Marching band",
        "Call 555-1234",
        "Deploy v2026",
    ],
)
def test_not_a_date(text: str) -> None:
    found = reading(text)
    assert (found.title, found.due_date, found.recurrence, found.parsed) == (text, None, None, [])


def test_a_weekday_alone_is_a_date() -> None:
    # `Sunday` is a date word in its own right (Todoist reads it too); quotes keep it.
    found = reading("Sunday school notes")
    assert (found.title, found.due_date) == ("school notes", date(2026, 12, 6))
    assert reading('"Sunday school" notes').title == '"Sunday school" notes'


def test_a_date_word_inside_a_title_with_a_date() -> None:
    found = reading("Read The 5th Wave tomorrow")
    assert (found.title, found.due_date) == ("Read The 5th Wave", date(2026, 12, 4))


# --- Quoted text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "due_date"),
    [
        ('"Buy milk tomorrow"', '"Buy milk tomorrow"', None),
        ('Read "The 5th Wave" tomorrow', 'Read "The 5th Wave"', date(2026, 12, 4)),
        ("“Mayday   on monday” p1", "“Mayday   on monday”", None),
        ('"#Work @home p1 every day"', '"#Work @home p1 every day"', None),
        ('Say "hi"  now', 'Say "hi" now', None),
        ('An "unclosed quote tomorrow', 'An "unclosed quote', date(2026, 12, 4)),
    ],
)
def test_quoted_text_is_kept_as_written(text: str, title: str, due_date: date | None) -> None:
    found = reading(text)
    assert (found.title, found.due_date, found.list_id, found.tags) == (title, due_date, None, [])


# --- Markers ----------------------------------------------------------------------------------


def test_a_list() -> None:
    found = reading("Plan the offsite #Work")
    assert (found.title, found.list_id, found.parsed) == ("Plan the offsite", 1, ["list:Work"])
    assert reading("Plan #work").list_id == 1  # case-insensitive
    unknown = reading("Fix bug #123 #Nowhere")
    assert (unknown.title, unknown.list_id) == ("Fix bug #123 #Nowhere", None)


def test_a_list_of_several_words() -> None:
    assert (reading("Ship #Big Project now").title, reading("Ship #Big Project now").list_id) == (
        "Ship now",
        3,
    )
    found = reading('Ship #"big project" now')
    assert (found.title, found.list_id, found.parsed) == ("Ship now", 3, ["list:big%20project"])


def test_a_list_found_by_the_callers_lookup() -> None:
    asked: list[str] = []

    def lookup(name: str) -> int | None:
        asked.append(name)
        return 7 if name.casefold() == "home" else None

    found = read("Fix sink #Home today", zone="UTC", now=THURSDAY, list_names=lookup)
    assert (found.title, found.list_id) == ("Fix sink", 7)
    assert asked[-1] == "Home"


def test_the_first_list_wins() -> None:
    found = reading("Call #Family #Work")
    assert (found.title, found.list_id) == ("Call #Work", 2)


def test_tags() -> None:
    found = reading("Buy stamps @errand @Post-Office @errand @ERRAND.")
    assert (found.title, found.tags) == ("Buy stamps.", ["errand", "Post-Office"])
    assert found.parsed == ["tag:errand", "tag:Post-Office"]
    spaced = reading('Ask @"waiting on" Bob')
    assert (spaced.title, spaced.tags) == ("Ask Bob", ["waiting on"])
    too_long = "@" + "x" * 41
    assert reading(f"Tag {too_long}").title == f"Tag {too_long}"
    assert reading("mail bob@example.com").tags == []


def test_at_most_twenty_tags() -> None:
    text = " ".join(f"@t{n}" for n in range(22))
    found = reading(f"Many {text}")
    assert found.tags == [f"t{n}" for n in range(20)]
    assert found.title == "Many @t20 @t21"


@pytest.mark.parametrize(
    ("text", "priority", "title"),
    [
        ("Pay taxes p1", Priority.HIGH, "Pay taxes"),
        ("Pay taxes p2", Priority.MEDIUM, "Pay taxes"),
        ("P3 Pay taxes", Priority.LOW, "Pay taxes"),
        ("Pay taxes p4", Priority.NONE, "Pay taxes"),
        ("Pay p2 taxes p1", Priority.MEDIUM, "Pay taxes p1"),
        ("Play mp3 p5", None, "Play mp3 p5"),
    ],
)
def test_priority(text: str, priority: str | None, title: str) -> None:
    found = reading(text)
    assert (found.priority, found.title) == (priority, title)


def test_everything_at_once() -> None:
    found = reading("Call mom tomorrow at 5pm #Family @phone p1 every week")
    assert found == Reading(
        title="Call mom",
        list_id=2,
        tags=["phone"],
        priority="high",
        due_date=date(2026, 12, 4),
        due_time=time(17, 0),
        timezone="UTC",
        recurrence="FREQ=WEEKLY",
        parsed=[
            "list:Family",
            "tag:phone",
            "priority:high",
            "due:2026-12-04T17:00",
            "recurrence:FREQ=WEEKLY",
        ],
    )
    assert found.header == (
        "list:Family, tag:phone, priority:high, due:2026-12-04T17:00, recurrence:FREQ=WEEKLY"
    )
    assert occurrences(found, 3) == days("2026-12-04T17:00", "2026-12-11T17:00", "2026-12-18T17:00")


# --- The title and the header -----------------------------------------------------------------


def test_the_title() -> None:
    assert reading("  Buy   milk\ttomorrow  ").title == "Buy milk"
    assert reading("Call mom, tomorrow").title == "Call mom"
    assert reading("Buy milk tomorrow!").title == "Buy milk!"
    # Nothing left: the whole text is the title, and what was read still applies.
    found = reading("tomorrow  5pm")
    assert (found.title, found.due_time) == ("tomorrow 5pm", time(17, 0))
    assert reading("#Work p1").title == "#Work p1"


def test_the_header_is_ascii_and_splits_on_commas() -> None:
    found = reading("Meet #Büro @café every monday, wednesday and friday")
    assert found.parsed == [
        "list:B%C3%BCro",
        "tag:caf%C3%A9",
        "due:2026-12-04",
        "recurrence:FREQ=WEEKLY;BYDAY=MO%2CWE%2CFR",
    ]
    assert found.header.isascii()
    values = [item.partition(":")[2] for item in found.header.split(", ")]
    assert [unquote(value) for value in values] == [
        "Büro",
        "café",
        "2026-12-04",
        "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    ]


def test_what_the_caller_must_check() -> None:
    with pytest.raises(ValueError, match="blank"):
        reading(" \t ")
    with pytest.raises(ValueError, match="aware"):
        read("x", zone="UTC", now=datetime(2026, 1, 1), list_names={})


def test_importing_the_reading_loads_no_parser() -> None:
    code = (
        "import sys, todo_api.quickadd.reading; "
        "print(sorted({'dateparser', 'recurrent'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- Any text ---------------------------------------------------------------------------------

WORDS = [
    *("tomorrow", "today", "next", "monday", "sat", "on", "at", "in", "the", "of", "every"),
    *("day", "weeks", "2", "3rd", "March", "may", "5pm", "9:30", "noon", "and", ",", "until"),
    *("#Work", "#Big", "Project", "@tag", '"', "“", "p1", "p4", "other", "2026-12-07", "hours"),
]
TEXTS = st.one_of(
    st.text(min_size=1, max_size=80),
    st.lists(st.sampled_from(WORDS) | st.text(max_size=6), min_size=1, max_size=12).map(" ".join),
).filter(lambda text: text.strip())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_any_text(text: str, zone: str) -> None:
    found = read(text, zone=zone, now=THURSDAY, list_names=LISTS)
    assert found.title and found.title == found.title.strip()
    assert all(item.isascii() and item.isprintable() and ", " not in item for item in found.parsed)
    assert found.header.isascii()
    if found.due_time is not None or found.recurrence is not None:
        assert found.due_date is not None
    if found.recurrence is not None:
        assert recurrence.check(found.recurrence) == found.recurrence
        assert occurrences(found, 1)[0].date() == found.due_date
    assert (found.timezone is not None) == (found.due_date is not None)
