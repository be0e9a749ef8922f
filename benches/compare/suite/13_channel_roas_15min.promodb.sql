-- Which ad money burns without converting: per channel and 15-minute bucket between 12:00
-- and 15:00 UTC (the window of the ads conversion collapse), ad cost, attributed orders and
-- GMV, and ROAS (GMV / cost; NULL without cost). Channels with spend only (ad_spend).
WITH spend AS (
    SELECT date_bin(INTERVAL '15 minutes', ts, TIMESTAMP '2026-11-11T00:00:00Z') AS bucket,
           channel,
           sum(cost) AS cost,
           sum(clicks) AS clicks
    FROM ad_spend
    WHERE ts >= TIMESTAMP '2026-11-11T12:00:00Z' AND ts < TIMESTAMP '2026-11-11T15:00:00Z'
    GROUP BY 1, 2
),
sales AS (
    SELECT date_bin(INTERVAL '15 minutes', ts, TIMESTAMP '2026-11-11T00:00:00Z') AS bucket,
           channel,
           count(DISTINCT order_id) AS orders,
           sum(amount) AS gmv
    FROM orders
    WHERE ts >= TIMESTAMP '2026-11-11T12:00:00Z' AND ts < TIMESTAMP '2026-11-11T15:00:00Z'
    GROUP BY 1, 2
)
SELECT s.bucket,
       s.channel,
       s.cost,
       s.clicks,
       coalesce(o.orders, 0) AS orders,
       coalesce(o.gmv, CAST(0 AS DECIMAL(28, 2))) AS gmv,
       safe_div(coalesce(o.gmv, CAST(0 AS DECIMAL(28, 2))), s.cost) AS roas
FROM spend s
LEFT JOIN sales o ON o.bucket = s.bucket AND o.channel = s.channel
ORDER BY s.bucket, s.channel
