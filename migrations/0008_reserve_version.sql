-- Placeholder for migration number 0008, which is reserved for another branch (tenancy). It
-- exists only so this branch's 0009 passes the gap check in src/db/migrations.ts; drop this file
-- and its line in migrations.ts when the real 0008 is merged.
SELECT 1;
