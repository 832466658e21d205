-- Placeholder for migration number 0007, which is reserved for another branch (fencing). It
-- exists only so this branch's 0008 passes the gap check in src/db/migrations.ts; drop this file
-- and its line in migrations.ts when the real 0007 is merged.
SELECT 1;
