-- Placeholder on branch `maint` only, so the gap-free migration list accepts 0004.
-- The lead replaces this file with the delivery branch's real 0003 at merge.
SELECT 1;
