-- Items of every namespace. A claim is a row under the primary key: never two for one key.
CREATE TABLE parlour_kv (
    namespace  text        NOT NULL,
    key        bytea       NOT NULL,  -- UTF-8; bytea because a key may hold NUL
    value      bytea       NOT NULL,  -- UTF-8 text: a JSON document, or a dual-write tombstone
                                      -- (which holds NUL, as text cannot)
    expires_at timestamptz,           -- NULL: never; '-infinity': a lock placeholder
    PRIMARY KEY (namespace, key)
);
CREATE INDEX parlour_kv_expiry ON parlour_kv (expires_at) WHERE expires_at IS NOT NULL;

-- Sliding windows: the admitted hits of one identity of one policy, oldest first.
CREATE TABLE parlour_ratelimit (
    bucket     text        NOT NULL,
    key        text        NOT NULL,
    hits       bigint[]    NOT NULL DEFAULT '{}',  -- milliseconds since the epoch
    tokens     text[]      NOT NULL DEFAULT '{}',  -- names of those hits, for refunds
    expires_at timestamptz NOT NULL,               -- when the newest hit leaves the window
    PRIMARY KEY (bucket, key)
);
CREATE INDEX parlour_ratelimit_expiry ON parlour_ratelimit (expires_at);
