-- stock_risk: per SKU with an inventory snapshot, how long its stock lasts at the current
-- pace. "Now" is the latest ts in orders and inventory (latest_ts, a constant when the
-- query is planned, so the orders scan reads only the last 15 minutes), so that replays
-- are deterministic.
--   on_hand             current stock summed over warehouses (current_stock)
--   sell_rate           units sold per minute in the 15 minutes up to now: (now - 15 min, now]
--   minutes_to_stockout on_hand / sell_rate; 0 when on_hand <= 0; NULL when sell_rate = 0
--   days_of_cover       minutes_to_stockout / 1440
WITH stock AS (
    SELECT sku_id, sum(on_hand) AS on_hand
    FROM current_stock
    GROUP BY sku_id
),
recent_sales AS (
    SELECT o.sku_id, sum(o.qty) AS units
    FROM orders o
    WHERE o.ts > latest_ts('orders', 'inventory') - INTERVAL '15 minutes'
      AND o.ts <= latest_ts('orders', 'inventory')
    GROUP BY o.sku_id
),
rated AS (
    SELECT st.sku_id,
           st.on_hand,
           coalesce(r.units, 0) / 15.0 AS sell_rate
    FROM stock st
    LEFT JOIN recent_sales r ON r.sku_id = st.sku_id
)
SELECT sku_id,
       on_hand,
       sell_rate,
       CASE WHEN on_hand <= 0 THEN 0.0 ELSE safe_div(on_hand, sell_rate) END
           AS minutes_to_stockout,
       CASE WHEN on_hand <= 0 THEN 0.0 ELSE safe_div(on_hand, sell_rate) / 1440.0 END
           AS days_of_cover
FROM rated
