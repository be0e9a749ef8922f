-- Per channel and 15-minute bucket, 12:00-15:00 UTC: ad cost, attributed orders, GMV, ROAS
-- (see .promodb.sql).
WITH spend AS (
    SELECT time_bucket(INTERVAL 15 MINUTE, ts, TIMESTAMPTZ '2026-11-11 00:00:00+00') AS bucket,
           channel,
           sum(cost) AS cost,
           sum(clicks) AS clicks
    FROM ad_spend
    WHERE ts >= TIMESTAMPTZ '2026-11-11 12:00:00+00' AND ts < TIMESTAMPTZ '2026-11-11 15:00:00+00'
    GROUP BY 1, 2
),
sales AS (
    SELECT time_bucket(INTERVAL 15 MINUTE, ts, TIMESTAMPTZ '2026-11-11 00:00:00+00') AS bucket,
           channel,
           count(DISTINCT order_id) AS orders,
           sum(amount) AS gmv
    FROM orders
    WHERE ts >= TIMESTAMPTZ '2026-11-11 12:00:00+00' AND ts < TIMESTAMPTZ '2026-11-11 15:00:00+00'
    GROUP BY 1, 2
)
SELECT s.bucket,
       s.channel,
       s.cost,
       s.clicks,
       coalesce(o.orders, 0) AS orders,
       coalesce(o.gmv, CAST(0 AS DECIMAL(38, 2))) AS gmv,
       CAST(coalesce(o.gmv, 0) AS DOUBLE) / NULLIF(CAST(s.cost AS DOUBLE), 0) AS roas
FROM spend s
LEFT JOIN sales o ON o.bucket = s.bucket AND o.channel = s.channel
ORDER BY s.bucket, s.channel
