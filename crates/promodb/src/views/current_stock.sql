-- current_stock: per (sku_id, warehouse), on_hand of the latest inventory snapshot and its
-- time (as_of). A pair with no snapshot has no row. Two snapshots of a pair at the same
-- latest ts: the larger on_hand (arg_max's tie rule), whatever the order of the rows.
SELECT sku_id,
       warehouse,
       arg_max(on_hand, ts) AS on_hand,
       max(ts) AS as_of
FROM inventory
GROUP BY sku_id, warehouse
