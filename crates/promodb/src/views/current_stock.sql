-- current_stock: per (sku_id, warehouse), on_hand of the latest inventory snapshot and its
-- time (as_of). A pair with no snapshot has no row.
SELECT sku_id,
       warehouse,
       last_value(on_hand ORDER BY ts) AS on_hand,
       max(ts) AS as_of
FROM inventory
GROUP BY sku_id, warehouse
