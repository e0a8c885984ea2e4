"""Quick add: one line of text read into the fields of a task, as Todoist's quick add reads it.

`reading.read` is the one reading, shared by `POST …/tasks/quick` and the offline chat
assistant; see `reading` for the grammar and the `X-Quick-Add-Parsed` header format.
"""
