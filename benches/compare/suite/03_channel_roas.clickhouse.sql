-- Channel efficiency: ad_spend joined with attributed sales and cogs (see .promodb.sql).
-- safe_div(a, b) is written toFloat64(a) / nullIf(toFloat64(b), 0); join_use_nulls = 1 so
-- that an unmatched side is NULL (SQL semantics), not the type's default.
WITH ads AS (
    SELECT channel, sum(impressions) AS sum_impressions, sum(clicks) AS sum_clicks, sum(cost) AS sum_cost
    FROM ad_spend
    GROUP BY channel
),
sales AS (
    SELECT o.channel AS channel,
           countDistinct(o.order_id) AS sum_orders,
           sum(o.amount) AS sum_gmv,
           sum(o.qty * s.unit_cost) AS sum_cogs
    FROM orders o
    LEFT JOIN skus s ON s.sku_id = o.sku_id
    GROUP BY o.channel
),
joined AS (
    SELECT coalesce(a.channel, s.channel) AS ch,
           coalesce(a.sum_impressions, 0) AS impressions,
           coalesce(a.sum_clicks, 0) AS clicks,
           coalesce(a.sum_cost, toDecimal128(0, 2)) AS cost,
           coalesce(s.sum_orders, 0) AS orders,
           coalesce(s.sum_gmv, toDecimal128(0, 2)) AS gmv,
           coalesce(s.sum_cogs, toDecimal128(0, 2)) AS cogs
    FROM ads a
    FULL OUTER JOIN sales s ON s.channel = a.channel
)
SELECT ch AS channel, impressions, clicks, cost, orders, gmv, cogs,
       toFloat64(clicks) / nullIf(toFloat64(impressions), 0) AS ctr,
       toFloat64(orders) / nullIf(toFloat64(clicks), 0) AS cvr,
       toFloat64(cost) / nullIf(toFloat64(clicks), 0) AS cpc,
       toFloat64(cost) / nullIf(toFloat64(orders), 0) AS cpa,
       toFloat64(gmv) / nullIf(toFloat64(cost), 0) AS roas,
       toFloat64(gmv - cogs - cost) / nullIf(toFloat64(cost), 0) AS roi
FROM joined
ORDER BY channel NULLS LAST
SETTINGS join_use_nulls = 1
