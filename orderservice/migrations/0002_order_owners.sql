-- The process running an order's saga (its lease id, src/lease.rs): recovery takes an unfinished
-- order from another process only when that process's lease is gone or the order has been idle past
-- the saga deadline. NULL: saved before owners were recorded, or by no service process.
ALTER TABLE orders ADD COLUMN owner INTEGER;
