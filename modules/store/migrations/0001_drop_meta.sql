-- The first release created intellistack_meta, a key/value table nothing
-- ever read. New installations never create it; upgraded ones drop it here.
DROP TABLE IF EXISTS intellistack_meta;
