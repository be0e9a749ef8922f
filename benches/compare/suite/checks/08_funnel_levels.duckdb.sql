-- Check for 08_funnel_by_channel: every user's level with the plain-SQL funnel of
-- 08_funnel_by_channel.duckdb.sql (the same CTEs).
WITH ev AS (
    SELECT user_id, ts,
           CASE event_type WHEN 'view' THEN 1 WHEN 'add_to_cart' THEN 2
                           WHEN 'checkout' THEN 3 WHEN 'pay' THEN 4 END AS step
    FROM user_events
    WHERE event_type IN ('view', 'add_to_cart', 'checkout', 'pay')
),
s1 AS (
    SELECT user_id, ts, ts AS start FROM ev WHERE step = 1
),
s2 AS (
    SELECT user_id, ts, start FROM (
        SELECT user_id, ts, step,
               max(start) OVER (PARTITION BY user_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS start
        FROM (SELECT user_id, ts, 1 AS step, start FROM s1
              UNION ALL
              SELECT user_id, ts, 2 AS step, NULL AS start FROM ev WHERE step = 2))
    WHERE step = 2 AND ts <= start + INTERVAL 30 MINUTE
),
s3 AS (
    SELECT user_id, ts, start FROM (
        SELECT user_id, ts, step,
               max(start) OVER (PARTITION BY user_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS start
        FROM (SELECT user_id, ts, 2 AS step, start FROM s2
              UNION ALL
              SELECT user_id, ts, 3 AS step, NULL AS start FROM ev WHERE step = 3))
    WHERE step = 3 AND ts <= start + INTERVAL 30 MINUTE
),
s4 AS (
    SELECT user_id, ts, start FROM (
        SELECT user_id, ts, step,
               max(start) OVER (PARTITION BY user_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS start
        FROM (SELECT user_id, ts, 3 AS step, start FROM s3
              UNION ALL
              SELECT user_id, ts, 4 AS step, NULL AS start FROM ev WHERE step = 4))
    WHERE step = 4 AND ts <= start + INTERVAL 30 MINUTE
),
levels AS (
    SELECT user_id, max(level) AS level FROM (
        SELECT DISTINCT user_id, 1 AS level FROM s1
        UNION ALL SELECT DISTINCT user_id, 2 FROM s2
        UNION ALL SELECT DISTINCT user_id, 3 FROM s3
        UNION ALL SELECT DISTINCT user_id, 4 FROM s4)
    GROUP BY user_id
)
SELECT u.user_id, coalesce(l.level, 0) AS level
FROM (SELECT DISTINCT user_id FROM user_events) u
LEFT JOIN levels l ON l.user_id = u.user_id
ORDER BY u.user_id
