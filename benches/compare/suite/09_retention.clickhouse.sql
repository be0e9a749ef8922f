-- Retention of the midnight hour's visitors and payers (see .promodb.sql).
SELECT sum(r[1]) AS midnight_visitors,
       sum(r[2]) AS back_morning,
       sum(r[3]) AS back_afternoon,
       sum(r[4]) AS back_evening,
       sum(p[1]) AS midnight_payers,
       sum(p[2]) AS paid_morning,
       sum(p[3]) AS paid_afternoon,
       sum(p[4]) AS paid_evening
FROM (
    SELECT user_id,
           retention(ts < toDateTime64('2026-11-11 01:00:00', 6, 'UTC'),
                     ts >= toDateTime64('2026-11-11 06:00:00', 6, 'UTC') AND ts < toDateTime64('2026-11-11 12:00:00', 6, 'UTC'),
                     ts >= toDateTime64('2026-11-11 12:00:00', 6, 'UTC') AND ts < toDateTime64('2026-11-11 18:00:00', 6, 'UTC'),
                     ts >= toDateTime64('2026-11-11 18:00:00', 6, 'UTC')) AS r,
           retention(event_type = 'pay' AND ts < toDateTime64('2026-11-11 01:00:00', 6, 'UTC'),
                     event_type = 'pay' AND ts >= toDateTime64('2026-11-11 06:00:00', 6, 'UTC') AND ts < toDateTime64('2026-11-11 12:00:00', 6, 'UTC'),
                     event_type = 'pay' AND ts >= toDateTime64('2026-11-11 12:00:00', 6, 'UTC') AND ts < toDateTime64('2026-11-11 18:00:00', 6, 'UTC'),
                     event_type = 'pay' AND ts >= toDateTime64('2026-11-11 18:00:00', 6, 'UTC')) AS p
    FROM user_events
    GROUP BY user_id
)
