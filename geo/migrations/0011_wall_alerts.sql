-- Wall alerts: a new major case or a case newly overdue (incident_events) raises an alert on
-- the command-centre wall until each operator acknowledges it. Acknowledgements are kept per
-- user in the database, so they survive a reload and hold across several web processes.
CREATE TABLE wall_alert_acks (
    username  text        NOT NULL,
    event_id  bigint      NOT NULL REFERENCES incident_events (id) ON DELETE CASCADE,
    acked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, event_id)
);
CREATE INDEX wall_alert_acks_event ON wall_alert_acks (event_id);
-- the wall asks for the alert kinds of the last day on every tick
CREATE INDEX incident_events_alerts ON incident_events (at DESC)
    WHERE kind = 'overdue' OR (kind = 'transition' AND from_state IS NULL);
