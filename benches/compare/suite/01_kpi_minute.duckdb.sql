-- KPIs per minute, gap-filled from the first order's minute to the last's (see .promodb.sql).
WITH per_minute AS (
    SELECT date_trunc('minute', ts) AS minute,
           sum(amount) AS gmv,
           count(DISTINCT order_id) AS orders,
           count(DISTINCT user_id) AS buyers,
           sum(qty) AS units
    FROM orders
    GROUP BY 1
),
minutes AS (
    SELECT unnest(generate_series(min(minute), max(minute), INTERVAL 1 MINUTE)) AS minute
    FROM per_minute
)
SELECT m.minute,
       coalesce(p.gmv, CAST(0 AS DECIMAL(38, 2))) AS gmv,
       coalesce(p.orders, 0) AS orders,
       coalesce(p.buyers, 0) AS buyers,
       coalesce(p.units, 0) AS units,
       CAST(p.gmv AS DOUBLE) / NULLIF(p.orders, 0) AS aov,
       CAST(p.gmv AS DOUBLE) / NULLIF(p.buyers, 0) AS arpb
FROM minutes m
LEFT JOIN per_minute p ON p.minute = m.minute
ORDER BY m.minute
