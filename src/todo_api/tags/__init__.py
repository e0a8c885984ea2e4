"""Tags across a user's tasks: the list with counts, rename and merge, removal."""
