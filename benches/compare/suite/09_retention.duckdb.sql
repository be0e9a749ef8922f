-- Retention of the midnight hour's visitors and payers (see .promodb.sql). ClickHouse
-- retention semantics per user: r1 = any(cond1), rk = any(cond1) AND any(condk).
WITH per_user AS (
    SELECT user_id,
           bool_or(ts < TIMESTAMPTZ '2026-11-11 01:00:00+00') AS v1,
           bool_or(ts >= TIMESTAMPTZ '2026-11-11 06:00:00+00' AND ts < TIMESTAMPTZ '2026-11-11 12:00:00+00') AS v2,
           bool_or(ts >= TIMESTAMPTZ '2026-11-11 12:00:00+00' AND ts < TIMESTAMPTZ '2026-11-11 18:00:00+00') AS v3,
           bool_or(ts >= TIMESTAMPTZ '2026-11-11 18:00:00+00') AS v4,
           bool_or(event_type = 'pay' AND ts < TIMESTAMPTZ '2026-11-11 01:00:00+00') AS p1,
           bool_or(event_type = 'pay' AND ts >= TIMESTAMPTZ '2026-11-11 06:00:00+00' AND ts < TIMESTAMPTZ '2026-11-11 12:00:00+00') AS p2,
           bool_or(event_type = 'pay' AND ts >= TIMESTAMPTZ '2026-11-11 12:00:00+00' AND ts < TIMESTAMPTZ '2026-11-11 18:00:00+00') AS p3,
           bool_or(event_type = 'pay' AND ts >= TIMESTAMPTZ '2026-11-11 18:00:00+00') AS p4
    FROM user_events
    GROUP BY user_id
)
SELECT count(*) FILTER (WHERE v1) AS midnight_visitors,
       count(*) FILTER (WHERE v1 AND v2) AS back_morning,
       count(*) FILTER (WHERE v1 AND v3) AS back_afternoon,
       count(*) FILTER (WHERE v1 AND v4) AS back_evening,
       count(*) FILTER (WHERE p1) AS midnight_payers,
       count(*) FILTER (WHERE p1 AND p2) AS paid_morning,
       count(*) FILTER (WHERE p1 AND p3) AS paid_afternoon,
       count(*) FILTER (WHERE p1 AND p4) AS paid_evening
FROM per_user
