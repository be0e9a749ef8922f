-- Top 10 SKUs by GMV, 20:00-22:00 UTC (see .promodb.sql).
SELECT o.sku_id AS sku_id,
       k.name AS name,
       k.category AS category,
       sum(o.qty) AS units,
       countDistinct(o.order_id) AS orders,
       sum(o.amount) AS gmv
FROM orders o
LEFT JOIN skus k ON k.sku_id = o.sku_id
WHERE o.ts >= toDateTime64('2026-11-11 20:00:00', 6, 'UTC')
  AND o.ts < toDateTime64('2026-11-11 22:00:00', 6, 'UTC')
GROUP BY o.sku_id, k.name, k.category
ORDER BY gmv DESC, sku_id
LIMIT 10
SETTINGS join_use_nulls = 1
