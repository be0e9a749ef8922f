-- Per channel and 15-minute bucket, 12:00-15:00 UTC: ad cost, attributed orders, GMV, ROAS
-- (see .promodb.sql).
WITH spend AS (
    SELECT toDateTime64(toStartOfInterval(ts, INTERVAL 15 MINUTE), 6, 'UTC') AS bucket,
           channel,
           sum(cost) AS spend_cost,
           sum(clicks) AS spend_clicks
    FROM ad_spend
    WHERE ts >= toDateTime64('2026-11-11 12:00:00', 6, 'UTC') AND ts < toDateTime64('2026-11-11 15:00:00', 6, 'UTC')
    GROUP BY bucket, channel
),
sales AS (
    SELECT toDateTime64(toStartOfInterval(ts, INTERVAL 15 MINUTE), 6, 'UTC') AS bucket,
           channel,
           countDistinct(order_id) AS sales_orders,
           sum(amount) AS sales_gmv
    FROM orders
    WHERE ts >= toDateTime64('2026-11-11 12:00:00', 6, 'UTC') AND ts < toDateTime64('2026-11-11 15:00:00', 6, 'UTC')
    GROUP BY bucket, channel
)
SELECT s.bucket AS bucket,
       s.channel AS channel,
       s.spend_cost AS cost,
       s.spend_clicks AS clicks,
       coalesce(o.sales_orders, 0) AS orders,
       coalesce(o.sales_gmv, toDecimal128(0, 2)) AS gmv,
       toFloat64(coalesce(o.sales_gmv, toDecimal128(0, 2))) / nullIf(toFloat64(s.spend_cost), 0) AS roas
FROM spend s
LEFT JOIN sales o ON o.bucket = s.bucket AND o.channel = s.channel
ORDER BY bucket, channel
SETTINGS join_use_nulls = 1
