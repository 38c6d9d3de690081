-- Incident KPIs (geo/incidents/kpi.py) answer from the indexes alone: the period's due cases,
-- closed cases and cases open at its start are counted by index-only scans, with no visit to
-- the table's rows for the columns the counts need.

-- Due in the period: the deadline check and the join to deferrals need id, handled_at,
-- state and closed_at.
DROP INDEX incidents_kpi_due;
CREATE INDEX incidents_kpi_due ON incidents (district_id, due_at)
    INCLUDE (id, handled_at, state, closed_at)
    WHERE due_at IS NOT NULL AND duplicate_of IS NULL;

-- Closed in the period (time to close, level of closure) and closed after a period's start
-- having been reported before it (open at the start).
DROP INDEX incidents_kpi_closed;
CREATE INDEX incidents_kpi_closed ON incidents (district_id, closed_at)
    INCLUDE (reported_at, closed_level)
    WHERE closed_at IS NOT NULL AND duplicate_of IS NULL;

-- Still open and reported before a period's start (open at the start).
CREATE INDEX incidents_kpi_open ON incidents (district_id, reported_at)
    WHERE closed_at IS NULL AND duplicate_of IS NULL;
