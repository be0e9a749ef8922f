-- The 20 SKUs closest to selling out (see .promodb.sql): "now" is the latest ts in orders and
-- inventory, sell rate over (now - 15 min, now].
WITH (SELECT max(m) FROM (SELECT max(ts) AS m FROM orders UNION ALL SELECT max(ts) AS m FROM inventory)) AS now_ts,
current_stock AS (
    SELECT sku_id, warehouse, argMax(on_hand, ts) AS current_on_hand
    FROM inventory
    GROUP BY sku_id, warehouse
),
stock AS (
    SELECT sku_id,
           sum(current_on_hand) AS stock_on_hand,
           countIf(current_on_hand > 0) AS warehouses
    FROM current_stock
    GROUP BY sku_id
),
recent_sales AS (
    SELECT sku_id, sum(qty) AS units
    FROM orders
    WHERE ts > now_ts - INTERVAL 15 MINUTE AND ts <= now_ts
    GROUP BY sku_id
),
rated AS (
    SELECT st.sku_id AS sku_id, st.stock_on_hand AS on_hand, st.warehouses AS warehouses,
           toFloat64(coalesce(r.units, 0)) / 15.0 AS sell_rate
    FROM stock st
    LEFT JOIN recent_sales r ON r.sku_id = st.sku_id
)
SELECT r.sku_id AS sku_id,
       k.name AS name,
       r.on_hand AS on_hand,
       r.warehouses AS warehouses,
       r.sell_rate AS sell_rate,
       if(r.on_hand <= 0, toNullable(0.0), r.on_hand / nullIf(r.sell_rate, 0)) AS minutes_to_stockout,
       if(r.on_hand <= 0, toNullable(0.0), r.on_hand / nullIf(r.sell_rate, 0) / 1440.0) AS days_of_cover
FROM rated r
LEFT JOIN skus k ON k.sku_id = r.sku_id
ORDER BY minutes_to_stockout NULLS LAST, sku_id
LIMIT 20
SETTINGS join_use_nulls = 1
