-- Fencing tokens that survive asynchronous commit (issue #8, src/queue/lease.ts).
-- A lease token is epoch * 2^32 + n: each process takes one epoch from this sequence in a
-- synchronously committed statement (durable, so no epoch is ever handed out twice, crash or
-- not) and counts n up in its own memory. Leases can then commit without waiting for the WAL
-- flush: a lease lost in a crash cannot make its token come back, unlike a value of
-- lease_token_seq taken in that lost transaction. lease_token_seq stays for rows leased before.
CREATE SEQUENCE sluice.lease_epoch_seq AS bigint MINVALUE 1 MAXVALUE 2147483647;
