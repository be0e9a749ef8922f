-- Top 10 SKUs by GMV in the evening peak, 20:00 to 22:00 UTC (half-open), with their
-- name and category, units, distinct orders and GMV; ties broken by sku_id.
SELECT o.sku_id,
       k.name,
       k.category,
       sum(o.qty) AS units,
       count(DISTINCT o.order_id) AS orders,
       sum(o.amount) AS gmv
FROM orders o
LEFT JOIN skus k ON k.sku_id = o.sku_id
WHERE o.ts >= TIMESTAMP '2026-11-11T20:00:00Z' AND o.ts < TIMESTAMP '2026-11-11T22:00:00Z'
GROUP BY o.sku_id, k.name, k.category
ORDER BY gmv DESC, o.sku_id
LIMIT 10
