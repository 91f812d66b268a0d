-- Fewer pages written per turn on SQLite (issue 16: the two commits of a turn
-- were ~40% of its CPU). chatkit_threads_activity served only the hourly
-- retention sweep (EXPLAIN QUERY PLAN: listing threads by activity searches
-- chatkit_threads_owner_created and sorts), yet every turn moved the
-- thread's entry in it twice, 2 of the ~12 WAL pages of an add_user_message
-- turn. The sweep scans the table once an hour instead.
DROP INDEX chatkit_threads_activity;
