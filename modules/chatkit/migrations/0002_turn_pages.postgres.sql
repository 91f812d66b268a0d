-- Nothing on PostgreSQL: 0002_turn_pages.sqlite.sql drops an index whose
-- upkeep cost SQLite two WAL pages per turn (issue 16). PostgreSQL keeps
-- chatkit_threads_activity for its retention sweep.
SELECT 1;
