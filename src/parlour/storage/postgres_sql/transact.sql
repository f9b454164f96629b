-- Lock every key's row in key order, giving absent keys an invisible placeholder row (expired
-- at '-infinity') so that they are locked too: two transactions over overlapping keys then
-- queue instead of deadlocking, and nobody can create, change or delete one of these keys until
-- the transaction ends. Keys come sorted and unique. Returns each key's live text (NULL: none)
-- and whether its row is a placeholder made here.
CREATE FUNCTION parlour_lock(p_namespace text, p_keys bytea[])
RETURNS TABLE (k bytea, v bytea, placed boolean) LANGUAGE plpgsql AS $$
DECLARE
    n      int := cardinality(p_keys);
    added  bytea[] := '{}';
    more   bytea[];
    locked int;
BEGIN
    LOOP
        WITH inserted AS (
            INSERT INTO parlour_kv AS kv (namespace, key, value, expires_at)
            SELECT p_namespace, wanted, '', '-infinity' FROM unnest(p_keys) AS wanted
            ORDER BY wanted
            ON CONFLICT (namespace, key) DO NOTHING
            RETURNING kv.key
        )
        SELECT coalesce(array_agg(inserted.key), '{}') INTO more FROM inserted;
        added := added || more;
        SELECT count(*) INTO locked FROM (
            SELECT 1 FROM parlour_kv AS kv
            WHERE kv.namespace = p_namespace AND kv.key = ANY (p_keys)
            ORDER BY kv.key FOR UPDATE
        ) AS rows;
        -- a row deleted between the insert and the lock: give it a placeholder, lock again
        EXIT WHEN locked = n;
    END LOOP;
    RETURN QUERY
        SELECT kv.key,
               CASE WHEN kv.expires_at IS NULL OR kv.expires_at > now() THEN kv.value END,
               kv.key = ANY (added)
        FROM parlour_kv AS kv
        WHERE kv.namespace = p_namespace AND kv.key = ANY (p_keys);
END;
$$;

-- Apply every write if every expectation holds, all at once; else change nothing (placeholders
-- that are not written are deleted before the end: nothing of a refused transaction is left).
-- p_expect[i]: NULL (no condition), 'absent' or 'equal' (to p_expected[i]);
-- p_write[i]: NULL (leave), 'set' (to p_values[i], with p_ttls[i] seconds or NULL), 'delete', or
-- 'removal' (a set that stands for a removal, dual-write's tombstone: announced only if it
-- replaced other live text);
-- p_events[i]: the change event to NOTIFY on p_channel when key i is written;
-- p_placed: placeholders a parlour_lock earlier in this transaction made (a merge reads first).
CREATE FUNCTION parlour_transact(
    p_namespace text, p_channel text, p_keys bytea[], p_expect text[], p_expected bytea[],
    p_write text[], p_values bytea[], p_ttls float8[], p_events text[], p_placed bytea[]
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    n       int := coalesce(array_length(p_keys, 1), 0);
    placed  bytea[];
    stored  bytea;
    live    boolean;
BEGIN
    SELECT p_placed || coalesce(array_agg(l.k) FILTER (WHERE l.placed), '{}') INTO placed
    FROM parlour_lock(p_namespace, p_keys) AS l;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN p_expect[i] IS NULL;
        SELECT value INTO stored FROM parlour_kv
        WHERE namespace = p_namespace AND key = p_keys[i]
          AND (expires_at IS NULL OR expires_at > now());
        IF NOT FOUND THEN
            stored := NULL;
        END IF;
        IF (p_expect[i] = 'absent' AND stored IS NOT NULL)
           OR (p_expect[i] = 'equal' AND (stored IS NULL OR stored <> p_expected[i])) THEN
            DELETE FROM parlour_kv WHERE namespace = p_namespace AND key = ANY (placed);
            RETURN false;
        END IF;
    END LOOP;
    FOR i IN 1 .. n LOOP
        IF p_write[i] = 'removal' THEN
            SELECT value INTO stored FROM parlour_kv
            WHERE namespace = p_namespace AND key = p_keys[i]
              AND (expires_at IS NULL OR expires_at > now());
            IF NOT FOUND THEN
                stored := NULL;
            END IF;
            UPDATE parlour_kv
            SET value = p_values[i],
                expires_at = now() + make_interval(secs => p_ttls[i])
            WHERE namespace = p_namespace AND key = p_keys[i];
            IF stored IS NOT NULL AND stored <> p_values[i] THEN
                PERFORM pg_notify(p_channel, p_events[i]);
            END IF;
        ELSIF p_write[i] = 'set' THEN
            UPDATE parlour_kv
            SET value = p_values[i],
                expires_at = now() + make_interval(secs => p_ttls[i])
            WHERE namespace = p_namespace AND key = p_keys[i];
            PERFORM pg_notify(p_channel, p_events[i]);
        ELSIF p_write[i] = 'delete' THEN
            DELETE FROM parlour_kv WHERE namespace = p_namespace AND key = p_keys[i]
            RETURNING expires_at IS NULL OR expires_at > now() INTO live;
            IF live THEN
                PERFORM pg_notify(p_channel, p_events[i]);
            END IF;
        ELSIF p_keys[i] = ANY (placed) THEN
            DELETE FROM parlour_kv WHERE namespace = p_namespace AND key = p_keys[i];
        END IF;
    END LOOP;
    RETURN true;
END;
$$;
