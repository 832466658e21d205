-- Placeholder for 0002 (the api branch's migration), so that 0003 applies on the delivery
-- branch while migration numbers must be gap-free. Replaced by the real 0002 at merge.
SELECT 1;
