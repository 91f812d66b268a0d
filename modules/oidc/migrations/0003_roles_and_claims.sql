-- Roles: accounts are students unless made instructors or admins. "user"
-- (Better-Auth's default, and this provider's until now) becomes "student",
-- alone or first in a comma-separated list.
UPDATE users SET role = 'student' WHERE role = 'user' OR role = '';
UPDATE users SET role = 'student,' || SUBSTR(role, 6) WHERE role LIKE 'user,%';

-- Per-user custom claims, a JSON object (such as {"stage":3,"course":"py"});
-- the provider copies the ones the operator lists (`claims stage course`)
-- into the tokens it issues.
ALTER TABLE users ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';

CREATE INDEX auth_events_event ON auth_events (event, created_at);

-- Who acted: an admin's user id for admin API actions, "cli" for the
-- `intellistack user` command, empty when users act on their own account.
ALTER TABLE auth_events ADD COLUMN actor_id TEXT NOT NULL DEFAULT '';
