-- Many salons on one database: every row names its salon, and a statement sees only the rows of
-- the salon it runs for. The salon is part of the namespace (``bookings@maya``; none for a
-- single salon), kept in its own column so that the policy can compare it.
ALTER TABLE parlour_kv ADD COLUMN IF NOT EXISTS salon text NOT NULL GENERATED ALWAYS AS (
    CASE WHEN strpos(namespace, '@') > 0 THEN split_part(namespace, '@', 2) ELSE '' END
) STORED;

-- Forced, so the table's owner (the role Parlour connects as) is held by it too; only a
-- superuser or a BYPASSRLS role is not, and Parlour must not connect as one (docs/tenancy.md).
-- ``parlour.salon`` is set for each statement on a salon's rows (storage/postgres.py); unset,
-- a statement sees the rows of no salon: a single salon's, and the deployment's own. ``*`` is the
-- housekeeping's (expired rows of every salon), set explicitly, never a default.
ALTER TABLE parlour_kv ENABLE ROW LEVEL SECURITY;
ALTER TABLE parlour_kv FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS parlour_one_salon ON parlour_kv;
CREATE POLICY parlour_one_salon ON parlour_kv
    USING (salon = coalesce(current_setting('parlour.salon', true), '')
           OR current_setting('parlour.salon', true) = '*')
    WITH CHECK (salon = coalesce(current_setting('parlour.salon', true), '')
                OR current_setting('parlour.salon', true) = '*');
