-- Placeholder on branch `maint` only, so the gap-free migration list accepts 0004.
-- The lead replaces this file with the api branch's real 0002 at merge.
SELECT 1;
