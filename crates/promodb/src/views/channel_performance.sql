-- channel_performance: ad efficiency per channel over the whole promo. Ad columns come from
-- ad_spend, sales columns from the orders attributed to the channel (orders.channel);
-- orders with no attributed channel form the row with a NULL channel. Additive columns of
-- a side with no rows are 0; every ratio is NULL on a zero denominator:
-- ctr = clicks / impressions, cvr = orders / clicks, cpc = cost / clicks,
-- cpa = cost / orders, roas = gmv / cost, roi = (gmv - cogs - cost) / cost,
-- with cogs = sum(qty * skus.unit_cost).
WITH ads AS (
    SELECT channel,
           sum(impressions) AS impressions,
           sum(clicks) AS clicks,
           sum(cost) AS cost
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
           coalesce(a.cost, CAST(0 AS DECIMAL(28, 2))) AS cost,
           coalesce(s.orders, 0) AS orders,
           coalesce(s.gmv, CAST(0 AS DECIMAL(28, 2))) AS gmv,
           coalesce(s.cogs, CAST(0 AS DECIMAL(38, 2))) AS cogs
    FROM ads a
    FULL OUTER JOIN sales s ON s.channel = a.channel
)
SELECT channel,
       impressions,
       clicks,
       cost,
       orders,
       gmv,
       cogs,
       safe_div(clicks, impressions) AS ctr,
       safe_div(orders, clicks) AS cvr,
       safe_div(cost, clicks) AS cpc,
       safe_div(cost, orders) AS cpa,
       safe_div(gmv, cost) AS roas,
       safe_div(gmv - cogs - cost, cost) AS roi
FROM joined
