-- Products of S3. Ids are those of the seed catalogue (there is no endpoint that creates products).
CREATE TABLE products (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
