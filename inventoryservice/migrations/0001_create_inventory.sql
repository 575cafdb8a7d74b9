-- Stock reservations of S5. The inventory keeps its own copy of each product's stock (it never reads
-- the product service's tables), and `reserved` may never leave 0..=stock.
CREATE TABLE inventory_items (
    product_id INTEGER PRIMARY KEY,
    stock      INTEGER NOT NULL CHECK (stock >= 0),
    reserved   INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT reserved_within_stock CHECK (reserved >= 0 AND reserved <= stock)
);

-- One row per order that ever asked to reserve or release stock, so that a repeated reserve or
-- compensate for the same order counts once, and a compensation that arrives before its reservation
-- leaves a 'released' row behind that keeps the late reservation from ever landing.
CREATE TABLE reservations (
    order_id   INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity >= 0),
    state      TEXT NOT NULL CHECK (state IN ('reserved', 'released')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
