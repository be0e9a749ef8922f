-- Top 10 SKUs by GMV, 20:00-22:00 UTC (see .promodb.sql).
SELECT o.sku_id,
       k.name,
       k.category,
       sum(o.qty) AS units,
       count(DISTINCT o.order_id) AS orders,
       sum(o.amount) AS gmv
FROM orders o
LEFT JOIN skus k ON k.sku_id = o.sku_id
WHERE o.ts >= TIMESTAMPTZ '2026-11-11 20:00:00+00' AND o.ts < TIMESTAMPTZ '2026-11-11 22:00:00+00'
GROUP BY o.sku_id, k.name, k.category
ORDER BY gmv DESC, o.sku_id
LIMIT 10
