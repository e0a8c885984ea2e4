"""The calendar feed: tasks.ics and its secret address."""
