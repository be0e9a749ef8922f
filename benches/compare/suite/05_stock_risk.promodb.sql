-- The 20 SKUs closest to selling out: current stock (latest snapshot per warehouse, summed),
-- warehouses holding it, sell rate over the 15 minutes up to "now" (the latest ts in orders
-- and inventory) and minutes to stock-out (0 when already out, NULL when nothing sells);
-- the built-in stock_risk and current_stock views.
SELECT r.sku_id,
       k.name,
       r.on_hand,
       w.warehouses,
       r.sell_rate,
       r.minutes_to_stockout,
       r.days_of_cover
FROM stock_risk r
JOIN (SELECT sku_id, count(*) FILTER (WHERE on_hand > 0) AS warehouses
      FROM current_stock GROUP BY sku_id) w ON w.sku_id = r.sku_id
LEFT JOIN skus k ON k.sku_id = r.sku_id
ORDER BY r.minutes_to_stockout NULLS LAST, r.sku_id
LIMIT 20
