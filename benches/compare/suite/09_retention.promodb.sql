-- Did the midnight rush come back? ClickHouse retention semantics per user: r[1] = active
-- in the first hour (00:00-01:00 UTC), r[k] = r[1] and active in period k: 06-12, 12-18,
-- 18:00-end. p[] is the same for paying (event_type 'pay'). Users counted per column.
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
           retention(ts < TIMESTAMP '2026-11-11T01:00:00Z',
                     ts >= TIMESTAMP '2026-11-11T06:00:00Z' AND ts < TIMESTAMP '2026-11-11T12:00:00Z',
                     ts >= TIMESTAMP '2026-11-11T12:00:00Z' AND ts < TIMESTAMP '2026-11-11T18:00:00Z',
                     ts >= TIMESTAMP '2026-11-11T18:00:00Z') AS r,
           retention(event_type = 'pay' AND ts < TIMESTAMP '2026-11-11T01:00:00Z',
                     event_type = 'pay' AND ts >= TIMESTAMP '2026-11-11T06:00:00Z' AND ts < TIMESTAMP '2026-11-11T12:00:00Z',
                     event_type = 'pay' AND ts >= TIMESTAMP '2026-11-11T12:00:00Z' AND ts < TIMESTAMP '2026-11-11T18:00:00Z',
                     event_type = 'pay' AND ts >= TIMESTAMP '2026-11-11T18:00:00Z') AS p
    FROM user_events
    GROUP BY user_id
) per_user
