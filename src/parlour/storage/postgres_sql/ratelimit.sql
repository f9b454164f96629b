-- Decide one request against the sliding windows of all its keys, and record it if admitted:
-- one atomic step (each identity's row locked FOR UPDATE in key order), with the database's
-- clock (clock_timestamp()), never the callers'; p_now_ms is for tests only.
-- Returns (admitted, remaining, retry-after ms, reset ms), as ratelimit.lua does on Redis.
CREATE FUNCTION parlour_ratelimit_hit(
    p_bucket text, p_keys text[], p_limit int, p_window_ms bigint, p_token text,
    p_record boolean, p_now_ms bigint
) RETURNS TABLE (admitted boolean, remaining int, wait_ms bigint, reset_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    now_ms  bigint := coalesce(p_now_ms, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    cutoff  bigint := now_ms - p_window_ms;
    sorted  text[] := ARRAY(SELECT DISTINCT k FROM unnest(p_keys) AS k ORDER BY k);
    n       int := coalesce(array_length(sorted, 1), 0);
    locked  int;
    win     record;
    counts  int[] := '{}';
    oldest  bigint[] := '{}';
    wait    bigint := 0;
    left_   int := p_limit;
    reset_  bigint := 0;
    kept    bigint[];
    names   text[];
BEGIN
    LOOP
        INSERT INTO parlour_ratelimit (bucket, key, expires_at)
        SELECT p_bucket, k, clock_timestamp() FROM unnest(sorted) AS k ORDER BY k
        ON CONFLICT (bucket, key) DO NOTHING;
        SELECT count(*) INTO locked FROM (
            SELECT 1 FROM parlour_ratelimit
            WHERE bucket = p_bucket AND key = ANY (sorted) ORDER BY key FOR UPDATE
        ) AS rows;
        EXIT WHEN locked = n;  -- reclaimed between insert and lock: again
    END LOOP;
    FOR i IN 1 .. n LOOP
        SELECT r.hits, r.tokens INTO win FROM parlour_ratelimit AS r
        WHERE bucket = p_bucket AND key = sorted[i];
        -- drop the hits that left the window (only when the oldest did: most calls keep all)
        IF coalesce(array_length(win.hits, 1), 0) > 0 AND win.hits[1] <= cutoff THEN
            SELECT coalesce(array_agg(h ORDER BY o), '{}'), coalesce(array_agg(t ORDER BY o), '{}')
            INTO kept, names
            FROM unnest(win.hits, win.tokens) WITH ORDINALITY AS u(h, t, o) WHERE h > cutoff;
            UPDATE parlour_ratelimit SET hits = kept, tokens = names
            WHERE bucket = p_bucket AND key = sorted[i];
        ELSE
            kept := win.hits;
        END IF;
        counts[i] := coalesce(array_length(kept, 1), 0);
        oldest[i] := coalesce(kept[1], now_ms);
        IF counts[i] >= p_limit THEN
            -- full until the hit `limit` places from the newest leaves the window
            wait := greatest(wait, kept[counts[i] - p_limit + 1] - cutoff);
        END IF;
    END LOOP;
    IF wait > 0 THEN
        RETURN QUERY SELECT false, 0, wait, wait;
        RETURN;
    END IF;
    FOR i IN 1 .. n LOOP
        IF p_record THEN
            UPDATE parlour_ratelimit
            SET hits = hits || now_ms, tokens = tokens || p_token,
                expires_at = to_timestamp((now_ms + p_window_ms) / 1000.0)
            WHERE bucket = p_bucket AND key = sorted[i];
            counts[i] := counts[i] + 1;
        END IF;
        left_ := least(left_, p_limit - counts[i]);
    END LOOP;
    FOR i IN 1 .. n LOOP
        IF counts[i] > 0 AND p_limit - counts[i] = left_ THEN
            reset_ := greatest(reset_, oldest[i] - cutoff);
        END IF;
    END LOOP;
    RETURN QUERY SELECT true, left_, 0::bigint, reset_;
END;
$$;
