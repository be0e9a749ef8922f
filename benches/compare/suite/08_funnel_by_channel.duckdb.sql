-- view -> add_to_cart -> checkout -> pay funnel per first-touch channel, 30-minute window
-- (see .promodb.sql). DuckDB has no windowFunnel; this is its default-mode semantics in plain
-- SQL. Events sort by (ts, step); a step-1 event starts a chain; a step-k event extends the
-- latest-starting chain that reached k-1 before it (in (ts, step) order) when its ts is at
-- most 30 minutes after that chain's start. Because a later start is never worse, "the
-- latest-starting chain" is a running max: for each step-k event, start_k = max(start_(k-1))
-- over the valid step-(k-1) events up to it, and the event is valid when
-- ts <= start_k + 30 min. A user's level is the highest step with a valid event (0 if none).
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
),
per_user AS (
    SELECT u.user_id, u.channel, coalesce(l.level, 0) AS level
    FROM (SELECT user_id,
                 first(channel ORDER BY ts, channel) FILTER (WHERE channel IS NOT NULL) AS channel
          FROM user_events
          GROUP BY user_id) u
    LEFT JOIN levels l ON l.user_id = u.user_id
)
SELECT channel,
       count(*) AS users,
       count(*) FILTER (WHERE level >= 1) AS viewed,
       count(*) FILTER (WHERE level >= 2) AS added_to_cart,
       count(*) FILTER (WHERE level >= 3) AS checked_out,
       count(*) FILTER (WHERE level >= 4) AS paid,
       CAST(count(*) FILTER (WHERE level >= 4) AS DOUBLE)
           / NULLIF(count(*) FILTER (WHERE level >= 1), 0) AS view_to_pay
FROM per_user
GROUP BY channel
ORDER BY channel NULLS LAST
