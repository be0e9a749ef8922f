-- Channel efficiency: ad_spend joined with attributed sales and cogs (see .promodb.sql and
-- crates/promodb/src/views/channel_performance.sql). safe_div(a, b) is written
-- CAST(a AS DOUBLE) / NULLIF(CAST(b AS DOUBLE), 0).
WITH ads AS (
    SELECT channel, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(cost) AS cost
    FROM ad_spend
    GROUP BY channel
),
sales AS (
    SELECT o.channel,
           count(DISTINCT o.order_id) AS orders,
           sum(o.amount) AS gmv,
           sum(o.qty * s.unit_cost) AS cogs
    FROM orders o
    LEFT JOIN skus s ON s.sku_id = o.sku_id
    GROUP BY o.channel
),
joined AS (
    SELECT coalesce(a.channel, s.channel) AS channel,
           coalesce(a.impressions, 0) AS impressions,
           coalesce(a.clicks, 0) AS clicks,
           coalesce(a.cost, CAST(0 AS DECIMAL(38, 2))) AS cost,
           coalesce(s.orders, 0) AS orders,
           coalesce(s.gmv, CAST(0 AS DECIMAL(38, 2))) AS gmv,
           coalesce(s.cogs, CAST(0 AS DECIMAL(38, 2))) AS cogs
    FROM ads a
    FULL OUTER JOIN sales s ON s.channel = a.channel
)
SELECT channel, impressions, clicks, cost, orders, gmv, cogs,
       CAST(clicks AS DOUBLE) / NULLIF(CAST(impressions AS DOUBLE), 0) AS ctr,
       CAST(orders AS DOUBLE) / NULLIF(CAST(clicks AS DOUBLE), 0) AS cvr,
       CAST(cost AS DOUBLE) / NULLIF(CAST(clicks AS DOUBLE), 0) AS cpc,
       CAST(cost AS DOUBLE) / NULLIF(CAST(orders AS DOUBLE), 0) AS cpa,
       CAST(gmv AS DOUBLE) / NULLIF(CAST(cost AS DOUBLE), 0) AS roas,
       CAST(gmv - cogs - cost AS DOUBLE) / NULLIF(CAST(cost AS DOUBLE), 0) AS roi
FROM joined
ORDER BY channel NULLS LAST
