-- The 20 SKUs closest to selling out (see .promodb.sql and the stock_risk / current_stock
-- views): "now" is the latest ts in orders and inventory, sell rate over (now - 15 min, now].
WITH clock AS (
    SELECT max(ts) AS now
    FROM (SELECT max(ts) AS ts FROM orders UNION ALL SELECT max(ts) AS ts FROM inventory)
),
current_stock AS (
    SELECT sku_id, warehouse, arg_max(on_hand, ts) AS on_hand
    FROM inventory
    GROUP BY sku_id, warehouse
),
stock AS (
    SELECT sku_id,
           sum(on_hand) AS on_hand,
           count(*) FILTER (WHERE on_hand > 0) AS warehouses
    FROM current_stock
    GROUP BY sku_id
),
recent_sales AS (
    SELECT o.sku_id, sum(o.qty) AS units
    FROM orders o, clock c
    WHERE o.ts > c.now - INTERVAL 15 MINUTE AND o.ts <= c.now
    GROUP BY o.sku_id
),
rated AS (
    SELECT st.sku_id, st.on_hand, st.warehouses,
           CAST(coalesce(r.units, 0) AS DOUBLE) / 15.0 AS sell_rate
    FROM stock st
    LEFT JOIN recent_sales r ON r.sku_id = st.sku_id
)
SELECT r.sku_id,
       k.name,
       r.on_hand,
       r.warehouses,
       r.sell_rate,
       CASE WHEN r.on_hand <= 0 THEN 0.0::DOUBLE ELSE r.on_hand / NULLIF(r.sell_rate, 0) END
           AS minutes_to_stockout,
       CASE WHEN r.on_hand <= 0 THEN 0.0::DOUBLE ELSE r.on_hand / NULLIF(r.sell_rate, 0) / 1440.0 END
           AS days_of_cover
FROM rated r
LEFT JOIN skus k ON k.sku_id = r.sku_id
ORDER BY minutes_to_stockout NULLS LAST, r.sku_id
LIMIT 20
